"""Helpers for the tests of `mnist serve`: a server on 127.0.0.1 at an ephemeral port, in this
process (stopped when the block ends), of a checkpoint or of any stand-in model; a real `mnist
serve` process read line by line; MNIST digits as PNG bytes; drawing on the page with
Playwright's mouse (the browser test and benchmarks/serve_screenshot.py)."""

from __future__ import annotations

import io
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from mnist_cli.serve.server import Server


@contextmanager
def running_server(checkpoint: Path, log: list[str] | None = None) -> Iterator[str]:
    """The base URL of a server of `checkpoint` on 127.0.0.1:<free port>; shut down and closed
    when the block ends. Its log lines go to `log`."""
    from mnist_cli.serve.model import ServedModel

    with serving(ServedModel.open(checkpoint), log) as server:
        yield f"http://127.0.0.1:{server.port}"


@contextmanager
def serving(model, log: list[str] | None = None, host: str = "127.0.0.1") -> Iterator[Server]:
    """A `Server` of `model` (a ServedModel, or anything with its `info` and `answer`) on
    host:<free port>, serving on a thread until the block ends."""
    from mnist_cli.serve.server import make_server

    lines = log if log is not None else []
    server = make_server(model, host, 0, lines.append)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


START_TIMEOUT = 120  # seconds: bounds the test, claims nothing about speed
URL = re.compile(r"at (http://[^ ]+/) \(Ctrl-C stops\)")


class ServeProcess:
    """`python -m mnist_cli serve ...` (in the current folder) with its stderr read line by
    line on a thread; `start` runs in the child before it starts (by default SIGINT as in a
    terminal's foreground job)."""

    def __init__(self, *arguments: str, start: Callable[[], None] | None = None):
        from tests.conftest import REPO, ctrl_c_as_in_a_terminal

        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mnist_cli", "serve", *arguments],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=start or ctrl_c_as_in_a_terminal,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")  # the end

    def wait_for(self, pattern: re.Pattern) -> re.Match:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if match := pattern.search(line):
                return match
            assert line, f"serve ended: {self.seen}"
        raise AssertionError(f"no {pattern.pattern!r} in {self.seen}")

    def stop(self, number: int) -> tuple[int, str]:
        """Send a signal; the exit code and everything it wrote on stderr."""
        self.process.send_signal(number)
        code = self.process.wait(timeout=60)
        while (line := self.lines.get(timeout=10)) != "":
            self.seen.append(line)
        return code, "".join(self.seen)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def multipart(name: str, data: bytes, field: str = "file") -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def train_tiny(tiny_files: tuple[Path, dict[str, bytes]], folder: Path) -> Path:
    """`folder/ckpt.pt`: an mlp trained for one epoch on one thread on the synthetic dataset
    (conftest's `tiny_files`), with the `ckpt.onnx` train leaves beside it."""
    import pytest
    from typer.testing import CliRunner

    from mnist_cli.data import catalog
    from tests.conftest import DEAD_MIRROR, app
    from tests.tiny_cli import tiny_dataset

    source, contents = tiny_files
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(catalog.DATASETS, "mnist", tiny_dataset(contents, mirrors=(DEAD_MIRROR,)))
        for arguments in (
            ["download", "--from", str(source), "--data-dir", str(folder / "data")],
            ["train", "--model", "mlp", "--epochs", "1", "--threads", "1", "--json"]
            + ["--data-dir", str(folder / "data"), "--checkpoint", str(folder / "ckpt.pt")],
        ):
            result = CliRunner().invoke(app(), arguments)
            assert result.exit_code == 0, result.output
    return folder / "ckpt.pt"


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def as_photo(pixels: np.ndarray, side: int = 200) -> bytes:
    """A 28x28 MNIST digit as a person's photo would show it: dark ink on light paper, larger,
    with a margin and a little noise; PNG."""
    rng = np.random.default_rng(0)
    ink = Image.fromarray(255 - pixels).resize((side - 60, side - 60), Image.Resampling.BICUBIC)
    paper = Image.new("L", (side, side), 255)
    paper.paste(ink, (30, 30))
    noisy = np.asarray(paper, dtype=np.int16) - rng.integers(0, 20, (side, side))
    return png_bytes(np.clip(noisy, 0, 255).astype(np.uint8))


# Strokes in canvas pixels (the canvas is 280x280), each a list of points the mouse moves through.
SEVEN = [[(70, 60), (210, 60), (120, 235)]]
ONE = [[(125, 70), (150, 45), (150, 235)]]
WAIT_MS = 20_000  # the most any answer may take to show


def draw(page, strokes) -> None:
    box = page.locator("#canvas").bounding_box()
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=15)
        page.mouse.up()


def answer(page) -> str:
    """The guess shown once the page has the answer to what it asked last."""
    page.wait_for_function(
        "() => { const g = document.getElementById('guess');"
        " return g.dataset.asked && g.dataset.asked === g.dataset.answered; }",
        timeout=WAIT_MS,
    )
    assert page.inner_text("#error") == ""
    return page.inner_text("#guess")
