"""Shared fixtures: a tiny synthetic dataset in real IDX files, the real MNIST from ../shared,
a local HTTP mirror on 127.0.0.1, and a CliRunner. No test reaches the internet."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import os
import signal
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from mnist_cli.data import catalog, download
from mnist_cli.data.catalog import Dataset
from mnist_cli.data.download import NetworkPolicy
from tests.tiny_cli import tiny_dataset

# In CI the examples are the same on every run, so that what lands is what was tested; on a
# developer's machine they vary, to keep finding new cases.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

REPO = Path(__file__).resolve().parents[1]
REAL_MNIST = REPO.parent / "shared" / "datasets" / "mnist"
DEAD_MIRROR = "http://127.0.0.1:9/"  # the discard port: nothing listens, connection refused
# Short timeouts and backoff, so that tests of failing mirrors stay fast.
FAST_NETWORK = NetworkPolicy(connect_timeout=2.0, read_timeout=1.0, retries=2, backoff=0.01)


def ctrl_c_as_in_a_terminal() -> None:
    """`preexec_fn` for a child that is sent SIGINT: the default action, as a shell's foreground
    job has it. A suite started in the background (`nohup pytest &`) inherits SIGINT ignored, and
    Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def idx_bytes(dims: tuple[int, ...], payload: bytes) -> bytes:
    """An unsigned-byte IDX file, built by hand with struct."""
    return (
        struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload
    )


def synthetic_split(count: int, seed: int) -> tuple[bytes, bytes]:
    """Images of class c carry a bright bar on rows 2c+4 and 2c+5, with a little noise: easy to
    learn, so a minute of CPU is not needed to show that training learns."""
    import random

    rng = random.Random(seed)
    images = bytearray()
    labels = bytearray()
    for index in range(count):
        label = index % 10
        pixels = bytearray(rng.randrange(0, 40) for _ in range(28 * 28))
        for row in (2 * label + 4, 2 * label + 5):
            for col in range(4, 24):
                pixels[row * 28 + col] = 200 + rng.randrange(0, 55)
        images += pixels
        labels.append(label)
    return idx_bytes((count, 28, 28), bytes(images)), idx_bytes((count,), bytes(labels))


@dataclasses.dataclass
class Tiny:
    """The synthetic dataset: its registry entry and a folder of its .gz files."""

    dataset: Dataset
    source: Path
    contents: dict[str, bytes]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in its own directory, with no data dir override and no reachable mirror."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.delenv("MNIST_DEBUG", raising=False)
    for name, dataset in list(catalog.DATASETS.items()):
        offline = dataclasses.replace(dataset, mirrors=(DEAD_MIRROR,))
        monkeypatch.setitem(catalog.DATASETS, name, offline)
    monkeypatch.setattr(download, "DEFAULT_POLICY", FAST_NETWORK)


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    train_images, train_labels = synthetic_split(600, seed=1)
    test_images, test_labels = synthetic_split(200, seed=2)
    contents = {
        "train-images-idx3-ubyte": train_images,
        "train-labels-idx1-ubyte": train_labels,
        "t10k-images-idx3-ubyte": test_images,
        "t10k-labels-idx1-ubyte": test_labels,
    }
    source = tmp_path_factory.mktemp("tiny-source")
    for name, content in contents.items():
        (source / f"{name}.gz").write_bytes(gzip.compress(content))
    return source, contents


@pytest.fixture
def tiny(tiny_files, monkeypatch) -> Tiny:
    """Registers the synthetic dataset as 'mnist', so every command uses it."""
    source, contents = tiny_files
    dataset = tiny_dataset(contents, mirrors=(DEAD_MIRROR,))
    monkeypatch.setitem(catalog.DATASETS, "mnist", dataset)
    return Tiny(dataset, source, contents)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def real_mnist() -> Path:
    if not all((REAL_MNIST / f"{f.name}.gz").is_file() for f in catalog.MNIST.files):
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST}")
    return REAL_MNIST


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class names it so
        pass


@pytest.fixture
def serve():
    """serve(folder) -> base URL of a local HTTP server for that folder; stopped after the test."""
    servers = []

    def start(folder: Path, handler=_QuietHandler) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tiny_data(tiny, runner) -> Path:
    """The synthetic dataset imported into ./data."""
    result = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert result.exit_code == 0, result.output
    return Path("data")


def train_mlp(runner, epochs: int, *options: str) -> Path:
    """Train an mlp on the current dataset through the CLI; the checkpoint it wrote."""
    result = runner.invoke(
        app(), ["train", "--model", "mlp", "--epochs", str(epochs), "--json", *options]
    )
    assert result.exit_code == 0, result.output
    return Path("ckpt.pt")


@pytest.fixture
def tiny_checkpoint(tiny_data, runner) -> Path:
    """An mlp trained for two epochs on the synthetic dataset."""
    return train_mlp(runner, 2)


@pytest.fixture
def within_seconds():
    """Fail, instead of hanging the suite, if the test blocks (on a FIFO) for 60 s."""

    def hung(signum, frame):
        raise AssertionError("blocked: the FIFO was opened")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def torch_loaded_after(code: str) -> bool:
    """Run `code` in a fresh interpreter (in the current folder); whether torch was imported by
    the time it ended. The code's own asserts fail the test."""
    import subprocess
    import sys

    probe = f"{code}\nimport sys\nprint('torch' in sys.modules)\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"


def app():
    from mnist_cli.cli.app import app as typer_app

    return typer_app


@pytest.fixture(scope="session")
def real_checkpoint(tmp_path_factory) -> Path:
    """An mlp trained for one epoch on one thread on the real MNIST (about 97% on its test set),
    with the ckpt.onnx train leaves beside it; shared by the tests that need a model that reads
    real and drawn digits. Skipped where the real files are absent."""
    if not all((REAL_MNIST / f"{f.name}.gz").is_file() for f in catalog.MNIST.files):
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST}")
    folder = tmp_path_factory.mktemp("real-model")
    checkpoint, data = folder / "ckpt.pt", folder / "data"
    for arguments in (
        ["download", "--from", str(REAL_MNIST), "--data-dir", str(data)],
        ["train", "--model", "mlp", "--epochs", "1", "--threads", "1", "--json"]
        + ["--data-dir", str(data), "--checkpoint", str(checkpoint)],
    ):
        result = CliRunner().invoke(app(), arguments)
        assert result.exit_code == 0, result.output
    return checkpoint


def real_test_digits(checkpoint: Path, count: int) -> list[tuple[np.ndarray, int]]:
    """The first `count` MNIST test images (28x28 uint8) and their labels, from the data folder
    `real_checkpoint` imported."""
    from mnist_cli.data.store import load_split_arrays

    images, labels = load_split_arrays(catalog.MNIST, checkpoint.parent / "data", "test")
    return [(images[index], int(labels[index])) for index in range(count)]
