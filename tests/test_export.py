"""`mnist export` and the torch-free path: what the exported files hold (read with onnx and
safetensors themselves), predict and evaluate on an export giving the checkpoint's answers, no
torch imported where none is needed (subprocesses), and every kind of bad export refused in one
line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_cli.errors import CheckpointError
from mnist_cli.export.metadata import seal
from mnist_cli.inference.export_info import SEAL_KEY, SEAL_PLACEHOLDER, read_metadata
from mnist_cli.inference.onnx_model import load_onnx, matching_export
from tests.conftest import REPO, app, torch_loaded_after, train_mlp

METADATA_KEYS = {
    "format",
    "format_version",
    "model",
    "dataset",
    "class_names",
    "mean",
    "std",
    "temperature",
    "input",
    "output",
    "checkpoint_sha256",
    "mnist_cli_version",
    "torch_version",
    "opset",
}


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def _digits(tiny, count: int = 3) -> list[str]:
    """The first synthetic test images as PNG files."""
    raw = tiny.contents["t10k-images-idx3-ubyte"]
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    names = []
    for index in range(count):
        Image.fromarray(images[index]).save(f"digit{index}.png")
        names.append(f"digit{index}.png")
    return names


def _json(runner, *arguments: str):
    result = runner.invoke(app(), [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# What the files hold


def test_train_leaves_a_checked_onnx_export_beside_the_checkpoint(tiny_checkpoint):
    import onnx

    model = onnx.load("ckpt.onnx")
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    assert set(metadata) == METADATA_KEYS | {SEAL_KEY}
    assert metadata["model"] == "mlp" and metadata["dataset"] == "mnist"
    assert json.loads(metadata["class_names"])[7] == "seven"
    opsets = {entry.domain: entry.version for entry in model.opset_import}
    assert str(opsets[""]) == metadata["opset"]
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value  # a dynamic batch
    assert matching_export(Path("ckpt.pt")) is not None


def test_export_onnx_checks_it_against_torch_and_records_the_checkpoint(runner, tiny_checkpoint):
    from mnist_cli.checkpoint.read import load_checkpoint

    document = _json(runner, "export", "-o", "model.onnx")
    assert document["path"] == "model.onnx" and document["format"] == "onnx"
    assert 0 <= document["max_abs_diff"] <= 1e-4
    assert document["checked_on"] == "256 test images of mnist"
    assert document["bytes"] == Path("model.onnx").stat().st_size
    assert document["metadata"]["checkpoint_sha256"] == load_checkpoint(tiny_checkpoint).sha256
    assert load_onnx(Path("model.onnx")).info.checkpoint_sha256 == load_checkpoint("ckpt.pt").sha256


def test_export_without_data_checks_on_noise_and_says_so(runner, tiny_checkpoint):
    document = _json(runner, "export", "-o", "model.onnx", "--data-dir", "nowhere")
    assert "random noise" in document["checked_on"] and document["max_abs_diff"] <= 1e-4


def test_export_safetensors_holds_the_weights_and_the_metadata(runner, tiny_checkpoint):
    from safetensors import safe_open

    from mnist_cli.checkpoint.read import load_checkpoint

    result = runner.invoke(app(), ["export", "--format", "safetensors"])
    assert result.exit_code == 0, result.output
    assert "ckpt.safetensors" in result.stdout
    expected = load_checkpoint(tiny_checkpoint).model.state_dict()
    with safe_open("ckpt.safetensors", framework="pt") as file:
        assert set(file.keys()) == set(expected)
        for key in expected:
            assert file.get_tensor(key).equal(expected[key])
        metadata = file.metadata()
    assert set(metadata) == METADATA_KEYS - {"opset"}
    assert float(metadata["mean"]) == pytest.approx(0.1307)


def test_export_refuses_to_overwrite_its_checkpoint(runner, tiny_checkpoint):
    before = Path("ckpt.pt").read_bytes()
    _one_line_error(runner.invoke(app(), ["export", "-o", "ckpt.pt"]), "the checkpoint itself")
    assert Path("ckpt.pt").read_bytes() == before


def test_export_never_replaces_a_file_that_is_not_an_export(runner, tiny_checkpoint):
    Path("notes.onnx").write_text("my notes")
    result = runner.invoke(app(), ["export", "ckpt.pt", "-o", "notes.onnx"])
    _one_line_error(result, "notes.onnx holds a file that is not an mnist export")
    assert Path("notes.onnx").read_text() == "my notes"
    again = runner.invoke(app(), ["export", "ckpt.pt", "-o", "ckpt.onnx"])  # ours: replaced
    assert again.exit_code == 0, again.output


def test_train_keeps_a_users_file_where_its_export_would_go(runner, tiny_data):
    Path("ckpt.onnx").write_text("my notes")
    result = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "no ONNX export beside ckpt.pt" in result.stderr
    assert "not an mnist export" in result.stderr
    assert Path("ckpt.onnx").read_text() == "my notes" and Path("ckpt.pt").exists()


def test_export_of_a_missing_checkpoint_is_one_line(runner):
    _one_line_error(runner.invoke(app(), ["export", "nothing.pt"]), "no checkpoint at nothing.pt")


@pytest.mark.parametrize("missing", ["onnx", "onnxscript"])
def test_a_missing_exporter_names_the_install_command(
    runner, tiny_checkpoint, monkeypatch, missing
):
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    result = runner.invoke(app(), ["export", "-o", "model.onnx"])
    _one_line_error(result, f"needs {missing}", f"`pip install {missing}`")
    assert not Path("model.onnx").exists()


def test_train_without_the_exporter_keeps_its_checkpoint_and_says_so(
    runner, tiny_data, monkeypatch
):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    result = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "no ONNX export beside ckpt.pt" in result.stderr
    assert "`pip install onnxscript`" in result.stderr and "will use torch" in result.stderr
    assert Path("ckpt.pt").is_file() and not Path("ckpt.onnx").exists()


def test_a_missing_onnxruntime_names_the_install_command(runner, tiny_checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = runner.invoke(app(), ["evaluate", "ckpt.onnx"])
    _one_line_error(result, "`pip install onnxruntime`")


# The same answers as the checkpoint


def test_predict_and_evaluate_on_the_export_answer_as_the_checkpoint(runner, tiny, tiny_checkpoint):
    images = _digits(tiny)
    from_torch = _json(runner, "predict", "--checkpoint", "ckpt.pt", *images)
    Path("ckpt.onnx").rename("model.onnx")  # ckpt.pt alone: predict uses torch
    from_onnx = _json(runner, "predict", "--checkpoint", "model.onnx", *images)
    for torch_row, onnx_row in zip(from_torch, from_onnx, strict=True):
        assert onnx_row["prediction"] == torch_row["prediction"]
        assert onnx_row["probability"] == pytest.approx(torch_row["probability"], abs=1e-5)
    scored_torch = _json(runner, "evaluate", "ckpt.pt")
    scored_onnx = _json(runner, "evaluate", "model.onnx")
    assert scored_onnx["accuracy"] == scored_torch["accuracy"]
    assert scored_onnx["confusion_matrix"] == scored_torch["confusion_matrix"]
    assert scored_onnx["loss"] == pytest.approx(scored_torch["loss"], abs=1e-5)
    assert scored_onnx["model"] == "mlp" and scored_onnx["checkpoint"] == "model.onnx"


def test_the_export_shows_the_checkpoints_calibrated_probabilities(runner, tiny, tiny_checkpoint):
    """The temperature travels in the export: every probability, the ECE and the NLL are the
    checkpoint's, and so is an ensemble's mean whichever runtime runs each member."""
    from mnist_cli.checkpoint.read import load_checkpoint

    temperature = load_checkpoint("ckpt.pt").temperature
    assert temperature != 1.0  # fitted on the validation split: the test would prove nothing
    assert load_onnx(Path("ckpt.onnx")).temperature == temperature
    images = _digits(tiny)
    Path("ckpt.onnx").rename("model.onnx")  # ckpt.pt alone: predict uses torch
    every = ("--top-k", "10")
    from_torch = _json(runner, "predict", "--checkpoint", "ckpt.pt", *every, *images)
    from_onnx = _json(runner, "predict", "--checkpoint", "model.onnx", *every, *images)
    for torch_row, onnx_row in zip(from_torch, from_onnx, strict=True):
        torch_row = {g["prediction"]: g["probability"] for g in torch_row["top_k"]}
        onnx_row = {g["prediction"]: g["probability"] for g in onnx_row["top_k"]}
        assert set(onnx_row) == set(torch_row) == set(range(10))
        for digit, probability in torch_row.items():
            assert onnx_row[digit] == pytest.approx(probability, abs=1e-5)
    scored_torch = _json(runner, "evaluate", "ckpt.pt")
    scored_onnx = _json(runner, "evaluate", "model.onnx")
    assert scored_onnx["members"][0]["temperature"] == temperature
    for key in ("ece", "nll", "ece_before", "nll_before"):
        expected = scored_torch["calibration"][key]
        assert scored_onnx["calibration"][key] == pytest.approx(expected, abs=1e-5)
    mixed = _json(runner, "evaluate", "ckpt.pt", "model.onnx")
    assert mixed["ensemble"] is True and mixed["accuracy"] == scored_torch["accuracy"]
    assert mixed["calibration"]["nll"] == pytest.approx(
        scored_torch["calibration"]["nll"], abs=1e-5
    )


def test_an_export_without_a_temperature_reads_as_1_and_a_bad_one_is_refused():
    metadata = {
        "format": "mnist-cli-export",
        "format_version": "1",
        "model": "mlp",
        "dataset": "mnist",
        "class_names": '["a", "b"]',
        "mean": "0.1",
        "std": "0.3",
        "checkpoint_sha256": "",
    }
    assert read_metadata(metadata, Path("old.onnx")).temperature == 1.0
    for bad in ("0", "-1", "inf", "nan", "hot"):
        with pytest.raises(CheckpointError, match="old.onnx"):
            read_metadata({**metadata, "temperature": bad}, Path("old.onnx"))


def test_an_export_of_another_checkpoint_is_not_used(runner, tiny, tiny_checkpoint):
    """A retrained ckpt.pt with the old ckpt.onnx beside it: predict falls back to torch."""
    Path("ckpt.onnx").rename("old.onnx")
    train_mlp(runner, 1, "--seed", "1")
    Path("old.onnx").replace("ckpt.onnx")
    assert matching_export(Path("ckpt.pt")) is None
    result = runner.invoke(app(), ["predict", *_digits(tiny, 1)])
    assert result.exit_code == 0, result.output


# No torch where none is needed


def _imports_torch(tiny, *arguments: str) -> tuple[bool, subprocess.CompletedProcess]:
    """Run the real command in a subprocess; whether torch was in sys.modules at its exit."""
    code = (
        "import atexit, runpy, sys\n"
        "report = lambda: sys.stderr.write(f'torch loaded: {\"torch\" in sys.modules}\\n')\n"
        "atexit.register(report)\n"
        "sys.argv = ['tiny_cli', *sys.argv[1:]]\n"
        "runpy.run_module('tests.tiny_cli', run_name='__main__')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", code, str(tiny.source), *arguments]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "torch loaded: " in done.stderr, done.stderr
    return "torch loaded: True" in done.stderr, done


TORCH_FREE = [
    "mnist_cli.inference.card",
    "mnist_cli.inference.loader",
    "mnist_cli.inference.export_info",
    "mnist_cli.models",
    "mnist_cli.checkpoint.format",
    "mnist_cli.inference.onnx_graph",
    "mnist_cli.inference.onnx_model",
    "mnist_cli.paths",
    "mnist_cli.predict.pipeline",
    "mnist_cli.evaluate.scoring",
    "mnist_cli.evaluate.metrics",
    "mnist_cli.evaluate.calibration",
    "mnist_cli.inference.ensemble",
    "mnist_cli.evaluate.gallery",
    "mnist_cli.data.store",
    "mnist_cli.inference.onnx_model",
    "mnist_cli.export.metadata",
    "mnist_cli.export.formats",
    "mnist_cli.cli.app",
]


def test_the_modules_of_the_onnx_path_import_no_torch():
    assert not torch_loaded_after(f"for name in {TORCH_FREE!r}: __import__(name)")


def test_predict_and_evaluate_on_an_export_import_no_torch(tiny, tiny_checkpoint):
    images = _digits(tiny, 2)
    loaded, done = _imports_torch(tiny, "predict", "--checkpoint", "ckpt.onnx", *images)
    assert not loaded and "digit0.png" in done.stdout
    loaded, done = _imports_torch(tiny, "evaluate", "ckpt.onnx")
    assert not loaded and "accuracy" in done.stdout


def test_plain_predict_after_train_imports_no_torch_and_falls_back(tiny, tiny_checkpoint):
    images = _digits(tiny, 1)
    loaded, done = _imports_torch(tiny, "predict", *images)
    assert not loaded and "digit0.png" in done.stdout
    Path("ckpt.onnx").unlink()  # no export: torch answers, the same way
    loaded, again = _imports_torch(tiny, "predict", *images)
    assert loaded and again.stdout == done.stdout


# Bad exports, one line each


def _foreign_model(shape: list, metadata: dict[str, str] | None = None) -> bytes:
    """A valid ONNX model that is not ours: a Flatten of `shape` images, with `metadata`."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Flatten", ["images"], ["logits"])],
        "foreign",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _our_metadata() -> dict[str, str]:
    model = load_onnx(Path("ckpt.onnx"))
    return dict(model.session.get_modelmeta().custom_metadata_map)


def test_a_foreign_onnx_without_metadata_is_refused(runner, tiny_checkpoint):
    Path("foreign.onnx").write_bytes(_foreign_model(["batch", 3, 32, 32]))
    _one_line_error(runner.invoke(app(), ["evaluate", "foreign.onnx"]), "no mnist metadata")


def test_an_onnx_of_another_input_shape_is_refused(runner, tiny, tiny_checkpoint):
    metadata = {**_our_metadata(), SEAL_KEY: SEAL_PLACEHOLDER}
    Path("other.onnx").write_bytes(seal(_foreign_model(["batch", 3, 32, 32], metadata)))
    result = runner.invoke(app(), ["predict", "--checkpoint", "other.onnx", *_digits(tiny, 1)])
    _one_line_error(result, "not [batch, 1, 28, 28]")


def test_an_altered_onnx_is_refused(runner, tiny_checkpoint):
    data = bytearray(Path("ckpt.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    Path("altered.onnx").write_bytes(bytes(data))
    _one_line_error(runner.invoke(app(), ["evaluate", "altered.onnx"]), "SHA-256 does not match")
    assert matching_export(Path("ckpt.pt")) is not None  # the original is still good
    Path("ckpt.onnx").write_bytes(bytes(data))
    assert matching_export(Path("ckpt.pt")) is None  # an altered ckpt.onnx is not used


def test_an_onnx_with_external_data_is_refused(runner, tiny_checkpoint):
    import onnx

    model = onnx.load("ckpt.onnx")
    onnx.save(
        model, "split.onnx", save_as_external_data=True, location="split.data", size_threshold=0
    )
    assert Path("split.data").is_file()
    _one_line_error(runner.invoke(app(), ["evaluate", "split.onnx"]), "external data files")


@pytest.mark.parametrize("keep", [0, 100, 0.5, 0.99])
def test_a_truncated_onnx_is_refused(runner, tiny_checkpoint, keep):
    data = Path("ckpt.onnx").read_bytes()
    Path("cut.onnx").write_bytes(data[: int(keep * len(data)) if keep < 1 else keep])
    _one_line_error(runner.invoke(app(), ["evaluate", "cut.onnx"]), "cut.onnx")


def test_a_missing_or_directory_model_is_one_line(runner, tiny_checkpoint):
    _one_line_error(runner.invoke(app(), ["evaluate", "none.onnx"]), "no model at none.onnx")
    Path("folder.onnx").mkdir()
    _one_line_error(runner.invoke(app(), ["evaluate", "folder.onnx"]), "is a directory")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mangled_exports_raise_only_our_error(tiny_checkpoint, data):
    original = Path("ckpt.onnx").read_bytes()
    mangled = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mangled) - 1))
        mangled[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mangled)))
    Path("mangled.onnx").write_bytes(bytes(mangled[:cut]))
    if bytes(mangled[:cut]) == original:
        return
    with pytest.raises(CheckpointError, match="mangled.onnx"):
        load_onnx(Path("mangled.onnx"))
