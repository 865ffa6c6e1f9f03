"""Helpers for the tests of `mnist serve`: a server on 127.0.0.1 at an ephemeral port, in this
process (stopped when the block ends), of a checkpoint or of any stand-in model; MNIST digits
as PNG bytes; drawing on the page with Playwright's mouse (the browser test and
benchmarks/serve_screenshot.py)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
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
