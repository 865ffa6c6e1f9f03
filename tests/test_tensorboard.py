"""`mnist train --tensorboard DIR`: the event files TensorBoard itself reads back (its
EventAccumulator): each epoch's scalars, the settings as text, the mistakes as an image; a
missing package or a file in the folder's place is refused before training."""

import importlib.util
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import app

FAST = ["--model", "mlp", "--threads", "1", "--device", "cpu", "--epochs", "2", "--quiet"]


def test_the_event_file_holds_scalars_config_and_mistakes(runner, tiny_data):
    result = runner.invoke(app(), ["train", *FAST[:-1], "--tensorboard", "runs/a"])
    assert result.exit_code == 0, result.output
    assert "TensorBoard event files in runs/a: tensorboard --logdir runs/a" in result.stderr
    events = EventAccumulator("runs/a", size_guidance={"tensors": 0, "images": 0}).Reload()
    tags = events.Tags()
    expected = {"loss/train", "loss/val", "loss/test", "accuracy/val", "accuracy/test", "lr"}
    assert expected | {"seconds"} <= set(tags["scalars"])
    for tag in expected:
        assert [event.step for event in events.Scalars(tag)] == [1, 2]
    from mnist_cli.checkpoint.read import load_checkpoint

    history = load_checkpoint(Path("ckpt.pt")).history
    accuracy = [event.value for event in events.Scalars("accuracy/test")]
    assert all(abs(a - row.test_accuracy) < 1e-6 for a, row in zip(accuracy, history, strict=True))
    texts = [t.tensor_proto.string_val[0].decode() for t in events.Tensors("config/text_summary")]
    assert 'model = "mlp"' in texts[-1] and "batch-size = 128" in texts[-1]
    [image] = events.Images("mistakes")
    assert image.step == 2 and image.encoded_image_string.startswith(b"\x89PNG")


def test_without_tensorboard_the_run_is_refused_before_it_starts(runner, tiny_data, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name)
    )
    result = runner.invoke(app(), ["train", *FAST, "--tensorboard", "runs"])
    assert result.exit_code == 1
    assert "pip install 'mnist-cli[tensorboard]'" in result.stderr
    assert not Path("ckpt.pt").exists() and not Path("runs").exists()


def test_a_file_where_the_folder_should_be_is_left_alone(runner, tiny_data):
    Path("notes").write_text("mine")
    result = runner.invoke(app(), ["train", *FAST, "--tensorboard", "notes"])
    assert result.exit_code == 1
    assert "--tensorboard notes is not a folder" in result.stderr
    assert Path("notes").read_text() == "mine" and not Path("ckpt.pt").exists()
