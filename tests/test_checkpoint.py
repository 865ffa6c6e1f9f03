"""Checkpoints: round trip, atomic writes, and every kind of bad file giving one clear error."""

import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import make_checkpoint, payload_sha256, save_checkpoint
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.errors import CheckpointError, OutputError
from mnist_cli.inference.torch_model import predict_logits
from mnist_cli.models import build_model
from tests.conftest import app


def _checkpoint(model_name="cnn"):
    torch.manual_seed(0)
    config = TrainConfig(model=model_name)
    model = build_model(model_name, num_classes=10, **config.model_kwargs())
    payload = make_checkpoint(model=model, config=config, dataset=MNIST, history=[])
    return model, payload


@pytest.mark.parametrize("model_name", ["cnn", "mlp"])
def test_round_trip_gives_identical_logits(tmp_path, model_name):
    model, payload = _checkpoint(model_name)
    save_checkpoint(payload, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    inputs = torch.randn(16, 1, 28, 28)
    assert torch.equal(predict_logits(model, inputs), predict_logits(loaded.model, inputs))
    assert loaded.model_name == model_name
    assert loaded.class_names[3] == "three"


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    _, payload = _checkpoint()
    path = tmp_path / "c.pt"
    save_checkpoint(payload, path)
    before = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        save_checkpoint(payload, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


def _write(path: Path, obj) -> Path:
    """Save `obj`; a changed checkpoint gets a fresh SHA-256, so that the check after it is
    the one that must catch the change."""
    if isinstance(obj, dict) and "sha256" in obj:
        obj = {**obj, "sha256": payload_sha256(obj)}
    torch.save(obj, path)
    return path


def _bad_files(tmp_path: Path):
    _, payload = _checkpoint()
    good = tmp_path / "good.pt"
    save_checkpoint(payload, good)
    data = good.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt").write_text("hello")
    _write(tmp_path / "tensor.pt", torch.zeros(3))
    _write(tmp_path / "foreign.pt", {"model": torch.zeros(3)})
    _write(tmp_path / "version.pt", {**payload, "format_version": 99})
    _write(tmp_path / "unknown.pt", {**payload, "model": {"name": "resnet", "kwargs": {}}})
    shapes = dict(payload["state_dict"])
    shapes[next(iter(shapes))] = torch.zeros(1)
    _write(tmp_path / "shapes.pt", {**payload, "state_dict": shapes})
    missing = dict(payload["state_dict"])
    missing.pop(next(iter(missing)))
    _write(tmp_path / "missing.pt", {**payload, "state_dict": missing})
    nan = {k: v.clone() for k, v in payload["state_dict"].items()}
    next(v for v in nan.values() if v.is_floating_point()).fill_(float("nan"))
    _write(tmp_path / "nan.pt", {**payload, "state_dict": nan})
    _write(tmp_path / "classes.pt", {**payload, "class_names": ["a", "b"]})
    _write(tmp_path / "norm.pt", {**payload, "normalization": {"mean": 0.1, "std": -1.0}})
    return [p for p in sorted(tmp_path.iterdir()) if p.name != "good.pt"]


def test_every_bad_file_gives_one_clear_error(tmp_path):
    for path in _bad_files(tmp_path):
        with pytest.raises(CheckpointError, match="not a valid mnist checkpoint") as caught:
            load_checkpoint(path)
        assert "\n" not in str(caught.value), path.name


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-marker",))


def test_a_malicious_pickle_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, payload = _checkpoint()
    payload["history"] = [_Exploit()]
    with open("evil.pt", "wb") as f:
        torch.save(payload, f)
    with pytest.raises(CheckpointError, match="refused for safety"):
        load_checkpoint(Path("evil.pt"))
    assert not Path("pwned-marker").exists()

    # A raw pickle wearing a zip: torch.load must still refuse it.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(_Exploit()))
        archive.writestr("evil/version", "3\n")
    Path("raw.pt").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError):
        load_checkpoint(Path("raw.pt"))
    assert not Path("pwned-marker").exists()


def test_missing_or_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    _, payload = _checkpoint("mlp")
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    save_checkpoint(payload, path)
    return path.read_bytes()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mangled_checkpoints_give_only_our_error(tmp_path, good_bytes, data):
    mangled = bytearray(good_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mangled) - 1))
        mangled[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mangled)))
    path = tmp_path / "mangled.pt"
    path.write_bytes(bytes(mangled[:cut]) if data.draw(st.booleans()) else bytes(mangled))
    try:
        load_checkpoint(path)
    except CheckpointError:
        pass


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_reports_bad_checkpoints_in_one_line(runner, tmp_path, command):
    for path in _bad_files(tmp_path):
        arguments = [str(path)] if command == "evaluate" else ["x.png", "--checkpoint", str(path)]
        result = runner.invoke(app(), [command, *arguments])
        assert result.exit_code == 1, (path.name, result.output)
        assert result.stderr.startswith("error: not a valid mnist checkpoint"), result.stderr
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


def test_evaluate_without_a_checkpoint_says_what_to_do(runner):
    result = runner.invoke(app(), ["evaluate"])
    assert result.exit_code == 1
    assert "no checkpoint at ckpt.pt" in result.stderr
    assert "mnist train" in result.stderr


def test_each_bad_file_is_caught_by_its_own_check(tmp_path):
    reasons = {
        path.name: str(pytest.raises(CheckpointError, load_checkpoint, path).value)
        for path in _bad_files(tmp_path)
    }
    assert "the file is empty" in reasons["empty.pt"]
    assert "truncated" in reasons["truncated.pt"]
    assert "not a complete PyTorch checkpoint" in reasons["text.pt"]
    assert "no format marker" in reasons["foreign.pt"]
    assert "format version 99" in reasons["version.pt"]
    assert "unknown model 'resnet'" in reasons["unknown.pt"]
    assert "has shape (1,)" in reasons["shapes.pt"]
    assert "missing [" in reasons["missing.pt"]
    assert "NaN or infinity" in reasons["nan.pt"]
    assert "class names do not match" in reasons["classes.pt"]
    assert "normalisation is malformed" in reasons["norm.pt"]
