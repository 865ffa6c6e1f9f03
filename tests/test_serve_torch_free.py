"""`mnist serve` without torch: a checkpoint's verified ckpt.onnx, or an ONNX export given
directly, answers /healthz, /api/info and POST /api/predict in a process that never imports
torch (its sys.modules, and the libraries a real `mnist serve` has mapped), with the answers
`mnist predict --json` and `mnist info --json` give. With no export, or one that does not match,
torch answers, and the start-up line says which runtime answers and why."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_cli.data import catalog
from mnist_cli.serve.header import read_facts
from tests.conftest import REPO, app, ctrl_c_as_in_a_terminal, synthetic_split
from tests.serving import URL, ServeProcess, multipart, png_bytes, train_tiny

TIMEOUT = 60  # seconds any one request or start may take before the test fails
# Run in a fresh interpreter: the real CLI serving in the main thread, a thread that asks it
# what a client asks, reports what came back and whether torch is in sys.modules by then, and
# stops it with the SIGINT Ctrl-C sends. The server is caught as the CLI makes it (its port).
PROBE = """
import json, os, signal, sys, threading, time, urllib.request
import mnist_cli.serve.server as served
from mnist_cli.__main__ import main

made = []
make_server = served.make_server
served.make_server = lambda *args: made.append(make_server(*args)) or made[-1]
image = open("digit.png", "rb").read()

def ask(path, body=None):
    headers = {"Content-Type": "image/png"} if body else {}
    base = f"http://127.0.0.1:{made[0].port}"
    request = urllib.request.Request(base + path, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as reply:
        return reply.status, json.loads(reply.read())

def probe():
    while not made:
        time.sleep(0.02)
    time.sleep(0.2)  # serve_forever has started by now, or the first request waits for it
    answers = {"health": ask("/healthz"), "info": ask("/api/info")}
    answers["predict"] = ask("/api/predict", image)
    answers["torch"] = "torch" in sys.modules
    print(json.dumps(answers), flush=True)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=probe, daemon=True).start()
main(["serve", sys.argv[1], "--port", "0"])
"""


@pytest.fixture(scope="module")
def trained(tiny_files, tmp_path_factory) -> Path:
    """A folder with an mlp trained for one epoch on the synthetic dataset (`ckpt.pt`, and the
    `ckpt.onnx` train leaves beside it) and `digit.png`, a test image of that dataset."""
    folder = train_tiny(tiny_files, tmp_path_factory.mktemp("torch-free")).parent
    assert (folder / "ckpt.onnx").is_file(), "train left no export beside its checkpoint"
    images, _ = synthetic_split(1, seed=3)
    pixels = np.frombuffer(images[16:], dtype=np.uint8).reshape(28, 28)
    (folder / "digit.png").write_bytes(png_bytes(pixels))
    return folder


@pytest.fixture
def here(trained) -> Path:
    """The trained model and its digit, copied into this test's own folder (the current one)."""
    for name in ("ckpt.pt", "ckpt.onnx", "digit.png"):
        shutil.copy(trained / name, name)
    return Path.cwd()


def probe(model: str) -> tuple[dict, str]:
    """What PROBE reports of serving `model` in a fresh interpreter, and its stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, model],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def cli_json(runner, *arguments: str):
    result = runner.invoke(app(), [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def without_input(row: dict) -> dict:
    assert row["input"].startswith("data:image/png;base64,")
    return {key: value for key, value in row.items() if key != "input"}


def test_a_checkpoint_is_served_by_its_verified_export_without_torch(here, runner):
    answers, stderr = probe("ckpt.pt")
    assert answers["torch"] is False, "serving the verified export imported torch"
    assert answers["health"] == [200, {"status": "ok"}]
    assert answers["info"] == [200, cli_json(runner, "info", "ckpt.pt")]
    (row,) = cli_json(runner, "predict", "digit.png", "--checkpoint", "ckpt.pt")
    status, answer = answers["predict"]
    assert status == 200 and without_input(answer) == {**row, "file": "upload"}
    assert "answering with onnxruntime (ckpt.onnx, verified against ckpt.pt)" in stderr
    assert stderr.rstrip().endswith("stopped (Ctrl-C)")


def test_an_onnx_export_given_directly_is_served_without_torch(here, runner):
    answers, stderr = probe("ckpt.onnx")
    assert answers["torch"] is False
    assert "answering with onnxruntime (ckpt.onnx, given directly)" in stderr
    (row,) = cli_json(runner, "predict", "digit.png", "--checkpoint", "ckpt.onnx")
    status, answer = answers["predict"]
    assert status == 200 and without_input(answer) == {**row, "file": "upload"}
    status, info = answers["info"]
    described = cli_json(runner, "info", "ckpt.pt")
    assert status == 200 and set(info) == set(described)  # the same keys: docs/json.md
    for key in ("model", "dataset", "classes", "temperature"):
        assert info[key] == described[key]
    # What an export does not carry is unknown, not zero.
    assert info["checkpoint"] == "ckpt.onnx" and info["size"] == Path("ckpt.onnx").stat().st_size
    assert info["parameters"] is info["epochs"] is info["test_accuracy"] is None
    assert info["history"] == [] and info["config"] == {}


def test_a_real_mnist_serve_maps_no_libtorch(here, runner):
    server = ServeProcess("ckpt.pt", "--port", "0")
    try:
        base = server.wait_for(URL).group(1)
        assert "answering with onnxruntime (ckpt.onnx" in server.seen[-1]
        answers = [_ask(base, path, body) for path, body in _REQUESTS]
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        code, stderr = server.stop(signal.SIGINT)
    finally:
        server.kill()
    assert "onnxruntime" in maps  # the check reads what it should: the runtime that answers
    assert "libtorch" not in maps and "/torch/" not in maps
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[1][1] == cli_json(runner, "info", "ckpt.pt")
    (row,) = cli_json(runner, "predict", "digit.png", "--checkpoint", "ckpt.pt")
    assert without_input(answers[2][1]) == row
    assert code == 0 and "Traceback" not in stderr


_REQUESTS = [("healthz", None), ("api/info", None), ("api/predict", "digit.png")]


def _ask(base: str, path: str, image: str | None) -> tuple[int, dict]:
    """(status, JSON) of a GET, or of a POST of the image as a form (as the page sends it)."""
    body, headers = multipart(image, Path(image).read_bytes()) if image else (None, {})
    request = urllib.request.Request(base + path, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
        return reply.status, json.loads(reply.read())


def _remove(path: Path) -> None:
    path.unlink()


def _alter(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00")  # no longer the bytes ckpt.pt records


@pytest.mark.parametrize(
    ("change", "why"),
    [(_remove, "no export beside it"), (_alter, "ckpt.onnx does not match ckpt.pt")],
    ids=["no-export", "altered-export"],
)
def test_torch_answers_when_no_verified_export_can_and_the_line_says_why(
    here, runner, monkeypatch, change, why
):
    from mnist_cli.serve.model import ServedModel

    change(Path("ckpt.onnx"))
    monkeypatch.setattr("webbrowser.open", _press_ctrl_c)  # the line is out by then
    result = runner.invoke(app(), ["serve", "ckpt.pt", "--port", "0", "--open"])
    assert result.exit_code == 0, result.output
    assert f"answering with torch ({why}), at http://127.0.0.1:" in result.stderr
    served = ServedModel.open(Path("ckpt.pt"))
    assert served.classifier.runtime == "torch"
    assert served.info == cli_json(runner, "info", "ckpt.pt")
    (row,) = cli_json(runner, "predict", "digit.png", "--checkpoint", "ckpt.pt")
    answer = served.answer("digit.png", Path("digit.png").read_bytes())
    assert without_input(answer) == row


def _press_ctrl_c(url: str) -> None:
    raise KeyboardInterrupt


def test_without_onnxruntime_torch_answers_and_says_so(here, monkeypatch):
    from mnist_cli.serve.model import ServedModel

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    served = ServedModel.open(Path("ckpt.pt"))
    assert served.classifier.runtime == "torch"
    assert served.answered_by.startswith("torch (onnxruntime is not installed to run ckpt.onnx")


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_header_says_what_the_loaded_checkpoint_says(model, tmp_path):
    from mnist_cli.checkpoint.read import load_checkpoint
    from mnist_cli.documents import checkpoint_info

    path = _untrained(model, tmp_path)
    size = path.stat().st_size
    facts = read_facts(path)
    assert facts is not None
    loaded = load_checkpoint(path)
    assert facts.parameters == loaded.parameters  # batch norm's buffers are not parameters
    assert checkpoint_info(path, facts, size) == checkpoint_info(path, loaded, size)


def _untrained(model: str, folder: Path) -> Path:
    """A checkpoint of `model` as train writes it, untrained, with one epoch of history."""
    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.checkpoint.write import make_checkpoint, save_checkpoint
    from mnist_cli.config import TrainConfig
    from mnist_cli.models import build_model

    config = TrainConfig(model=model)
    network = build_model(model, num_classes=10, **config.model_kwargs())
    history = [EpochRecord(1, 0.5, 0.4, 0.9, 0.0, 2.0, 1.5, None, None)]
    checkpoint = make_checkpoint(
        model=network, config=config, dataset=catalog.MNIST, history=history
    )
    save_checkpoint(checkpoint, folder / f"{model}.pt")
    return folder / f"{model}.pt"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_damaged_header_is_facts_or_none(trained, tmp_path_factory, data):
    """A checkpoint with bytes changed anywhere: read_facts never raises (torch then says why)."""
    original = (trained / "ckpt.pt").read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    byte = data.draw(st.integers(0, 255))
    damaged = tmp_path_factory.mktemp("damaged") / "ckpt.pt"
    damaged.write_bytes(original[:position] + bytes([byte]) + original[position + 1 :])
    facts = read_facts(damaged)
    assert facts is None or facts.class_names
