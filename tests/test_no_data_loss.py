"""No command destroys a user's file: Ctrl-C or SIGTERM in epoch 1 keeps the previous checkpoint
and its record byte for byte; a path holding anything but an mnist checkpoint (or run record) is
never written over; a command's outputs never collide with each other or with its inputs; two
runs never write one checkpoint; no write follows a planted link. Issue 12, items 1, 2, 3, 5, 8."""

import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.train.record import read_record
from tests.conftest import REPO, app, train_mlp

SGD = ["--model", "mlp", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "32"]


def _signal_on_call(monkeypatch, module, name, call, number):
    """Patch module.name so that its `call`-th call sends signal `number` to this process."""
    real = getattr(module, name)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), number)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def _snapshot(*paths: str) -> dict[str, bytes]:
    return {path: Path(path).read_bytes() for path in paths}


# -- item 1: a stop in epoch 1 of a new run keeps the previous checkpoint and its record


@pytest.mark.parametrize(
    ("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_stop_in_epoch_1_keeps_the_previous_checkpoint_and_record(
    runner, tiny_data, monkeypatch, number, code
):
    train_mlp(runner, 2)
    before = _snapshot("ckpt.pt", "ckpt.jsonl")
    from mnist_cli.train import steps as training

    _signal_on_call(monkeypatch, training.F, "cross_entropy", call=5, number=number)
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "3"])
    assert result.exit_code == code, result.output
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"stopped in epoch 1 after step 5 of \d+: no epoch had finished, so ckpt.pt keeps the"
        r" checkpoint it held before, unchanged",
        last,
    ), last
    assert _snapshot("ckpt.pt", "ckpt.jsonl") == before


def test_a_stop_in_epoch_1_on_a_free_path_saves_and_starts_an_empty_record(
    runner, tiny_data, monkeypatch
):
    train_mlp(runner, 2)
    Path("ckpt.pt").unlink()  # an orphan record of an earlier run stays
    from mnist_cli.train import steps as training

    _signal_on_call(monkeypatch, training.F, "cross_entropy", call=5, number=signal.SIGINT)
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "3"])
    assert result.exit_code == 130, result.output
    assert "saved to ckpt.pt; continue with" in result.stderr
    assert load_checkpoint("ckpt.pt").history == []
    assert read_record(Path("ckpt.jsonl")) == []  # matches the checkpoint beside it


def test_sigint_in_epoch_1_of_a_real_process_keeps_the_previous_checkpoint(runner, tiny_data, tiny):
    train_mlp(runner, 2)
    before = _snapshot("ckpt.pt", "ckpt.jsonl")
    process = _start(tiny, "train", "--model", "cnn", "--batch-size", "2", "--epochs", "3")
    _wait_for_line(process, lambda line: line.startswith("epoch 1/3") and "%" in line)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "ckpt.pt keeps the checkpoint it held before" in stderr
    assert not stderr.startswith("error:")
    assert _snapshot("ckpt.pt", "ckpt.jsonl") == before


def _start(tiny, *arguments, **settings) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("MNIST_DATA_DIR", None)
    command = [sys.executable, "-m", "tests.tiny_cli", str(tiny.source), *arguments]
    command += ["--threads", "1"] if arguments[0] == "train" else []
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **settings
    )


def _wait_for_line(process: subprocess.Popen, seen) -> str:
    """Read stderr until a line for which `seen(line)` holds; fail if the process ends first."""
    lines = []
    for line in process.stderr:
        if seen(line):
            return line
        lines.append(line)
    process.wait(timeout=60)
    pytest.fail(f"the command ended first, with {process.returncode}: {''.join(lines)}")


# -- item 2: a path that holds something else is never replaced; outputs never collide


@pytest.mark.parametrize(
    "content",
    [b"my thesis, chapter 1\n", b"# README\n", "torch-file"],
    ids=["text", "markdown", "another-torch-file"],
)
def test_a_checkpoint_path_holding_another_file_is_refused(runner, tiny_data, content):
    if content == "torch-file":
        torch.save({"weights": torch.zeros(3)}, "thesis.txt")
    else:
        Path("thesis.txt").write_bytes(content)
    before = Path("thesis.txt").read_bytes()
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "1", "--checkpoint", "thesis.txt"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --checkpoint thesis.txt holds a file that is not an mnist checkpoint; it would"
        " be replaced: give another --checkpoint, or move the file away\n"
    )
    assert Path("thesis.txt").read_bytes() == before
    assert not Path("thesis.jsonl").exists()


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_device_or_fifo_as_checkpoint_is_refused(runner, tiny_data, kind):
    # Made here, never /dev/null itself: a regression must not replace the machine's device.
    path = Path("node")
    if kind == "fifo":
        os.mkfifo(path)
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
        except PermissionError:
            pytest.skip("making a device node needs root")
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "1", "--checkpoint", "node"])
    assert result.exit_code == 1
    described = "a device" if kind == "device" else "a FIFO (named pipe)"
    assert result.stderr == (
        f"error: --checkpoint node is {described}, not a file: give another path\n"
    )
    assert not stat.S_ISREG(os.lstat(path).st_mode)  # still what it was


def test_a_users_record_beside_the_checkpoint_is_never_truncated(runner, tiny_data):
    Path("results.jsonl").write_text('{"experiment": 1, "score": 0.9}\n')
    before = Path("results.jsonl").read_bytes()
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "1", "--checkpoint", "results.pt"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: results.jsonl is not an mnist run record")
    assert Path("results.jsonl").read_bytes() == before
    assert not Path("results.pt").exists()


@pytest.mark.parametrize("plot", ["run.png", "run.jsonl"])
def test_plot_and_checkpoint_never_share_a_file(runner, tiny_data, plot):
    result = runner.invoke(
        app(), ["train", *SGD, "--epochs", "1", "--checkpoint", "run.png", "--plot", plot]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: --plot {plot} is also ")
    assert not Path("run.png").exists()


def test_evaluate_never_draws_its_errors_over_the_checkpoint(runner, tiny_checkpoint):
    Path("ckpt.pt").rename("m.png")
    before = Path("m.png").read_bytes()
    result = runner.invoke(app(), ["evaluate", "m.png", "--errors", "m.png"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --errors m.png is also the checkpoint: give --errors another file name\n"
    )
    assert Path("m.png").read_bytes() == before


# -- item 3: --save-preprocessed into the folder of the originals replaces none of them


def test_save_preprocessed_into_the_inputs_folder_keeps_the_originals(runner, tiny_checkpoint):
    from PIL import Image

    Path("photos").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("L", (64, 64), 255).save(f"photos/{name}")
    before = _snapshot("photos/a.png", "photos/b.png")
    result = runner.invoke(app(), ["predict", "photos", "--save-preprocessed", "photos"])
    assert result.exit_code == 0, result.output
    assert _snapshot("photos/a.png", "photos/b.png") == before
    assert sorted(p.name for p in Path("photos").iterdir()) == [
        "a-2.png",
        "a.png",
        "b-2.png",
        "b.png",
    ]
    assert "photos/a.png was taken: photos/a.png saved as photos/a-2.png" in result.stderr
    with Image.open("photos/a-2.png") as seen:
        assert seen.size == (28, 28)


# -- item 5: one writer per checkpoint


def test_a_second_train_on_the_same_checkpoint_is_refused(tiny_data, tiny):
    first = _start(tiny, "train", *SGD, "--batch-size", "1", "--epochs", "20")
    try:
        _wait_for_line(first, lambda line: line.startswith("epoch  1/20"))
        second = _start(tiny, "train", *SGD, "--epochs", "1")
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 1
        assert stderr == (
            f"error: ckpt.pt is being written by process {first.pid} (another mnist train):"
            " wait for it to finish or give another --checkpoint\n"
        )
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    epochs = [row["epoch"] for row in read_record(Path("ckpt.jsonl"))]
    assert epochs == list(range(1, len(epochs) + 1))  # one run's rows only
    assert len(load_checkpoint("ckpt.pt").history) == len(epochs)
    assert not Path(".ckpt.pt.lock").exists()  # the holder removed its lock file


def test_the_lock_names_its_holder_and_goes_away(tmp_path):
    from mnist_cli.locks import checkpoint_lock

    checkpoint = tmp_path / "ckpt.pt"
    with checkpoint_lock(checkpoint):
        lock = tmp_path / ".ckpt.pt.lock"
        assert lock.read_text().strip() == str(os.getpid())
        holder = subprocess.run(
            [sys.executable, "-c", _TRY_LOCK, str(checkpoint)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (
            holder.stdout.strip()
            == f"InUse: {checkpoint} is being written by process {os.getpid()}"
        )
    assert not lock.exists()
    with checkpoint_lock(checkpoint):
        pass  # free again


_TRY_LOCK = """
import sys
from mnist_cli.errors import InUse
from mnist_cli.locks import checkpoint_lock
try:
    with checkpoint_lock(sys.argv[1]):
        print("acquired")
except InUse as error:
    print("InUse: " + str(error).split(" (")[0])
"""


# -- item 8: no write follows a planted link; cleanup removes only our own names


def test_a_record_linked_elsewhere_is_refused_and_its_target_untouched(runner, tiny_data):
    Path("elsewhere.txt").write_text("precious\n")
    Path("ckpt.jsonl").symlink_to("elsewhere.txt")
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ckpt.jsonl is not an mnist run record")
    assert Path("elsewhere.txt").read_text() == "precious\n"


def test_a_planted_temp_link_is_not_followed():
    from mnist_cli.files import write_atomically

    Path("elsewhere.txt").write_text("precious\n")
    Path(f".ckpt.pt.{os.getpid()}.tmp").symlink_to("elsewhere.txt")
    write_atomically(Path("ckpt.pt"), b"new bytes", "checkpoint")  # as every save does
    assert Path("elsewhere.txt").read_text() == "precious\n"
    assert not Path("ckpt.pt").is_symlink() and Path("ckpt.pt").read_bytes() == b"new bytes"


def test_a_planted_part_link_is_not_followed(runner, tiny):
    folder = Path("data/mnist")
    folder.mkdir(parents=True)
    Path("elsewhere.txt").write_text("precious\n")
    (folder / f".train-images-idx3-ubyte.{os.getpid()}.part").symlink_to(
        Path("elsewhere.txt").resolve()
    )
    result = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert result.exit_code == 0, result.output
    assert Path("elsewhere.txt").read_text() == "precious\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted(tiny.contents)


def test_cleanup_removes_only_the_temp_files_the_tool_makes(runner, tiny_data):
    others = [".notes.99999999.tmp", ".x.tmp", ".ckpt.pt.99999999.tmp.bak", ".*.tmp"]
    for name in others:
        Path(name).write_text("not mnist's")
    ours = Path(".*.99999999.tmp")  # what a killed run with --checkpoint '*' would leave
    ours.write_text("stale")
    result = runner.invoke(app(), ["train", *SGD, "--epochs", "1", "--checkpoint", "*"])
    assert result.exit_code == 0, result.output
    assert all(Path(name).read_text() == "not mnist's" for name in others)
    assert not ours.exists()
    assert json.loads(Path("*.jsonl").read_text())["epoch"] == 1
