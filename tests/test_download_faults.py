"""Downloads against a misbehaving HTTP server on 127.0.0.1: 403, a connection dropped mid-body,
a server that stalls before or during the body, wrong bytes. Each ends with verified files (from
a retry or the next mirror) or one clear error, within the timeouts; nothing half-written stays."""

import dataclasses
import errno
import gzip
import http.server
import os
import threading
from pathlib import Path

import pytest

from mnist_cli.data import download as download_module
from mnist_cli.data.download import download
from tests.conftest import DEAD_MIRROR, FAST_NETWORK, app


@pytest.fixture
def release():
    """Set at teardown, so that handlers stalling on it let the server stop."""
    event = threading.Event()
    yield event
    event.set()


def _faulty(mode_of, hits: list, release: threading.Event):
    """A handler whose n-th request (1-based) behaves as mode_of(n) says: 'ok', '403', 'drop'
    (half the body, then close), 'stall' (never answers), 'stall-mid' (half, then silence)."""

    class Faulty(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            mode = mode_of(len(hits))
            if mode == "ok":
                return super().do_GET()
            if mode == "403":
                return self.send_error(403)
            if mode == "stall":
                release.wait()
                return
            body = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "stall-mid":
                release.wait()

    return Faulty


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _download(runner, *mirrors):
    arguments = ["download"]
    for mirror in mirrors:
        arguments += ["--mirror", mirror]
    return runner.invoke(app(), arguments)


def test_403_goes_to_the_next_mirror_at_once(runner, tiny, serve, release):
    hits = []
    forbidden = serve(tiny.source, _faulty(lambda n: "403", hits, release))
    result = _download(runner, forbidden, serve(tiny.source))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("downloaded") == 4
    assert len(hits) == 4  # one request per file: a 403 is not retried


def test_a_dropped_connection_is_retried_on_the_same_mirror(runner, tiny, serve, release):
    hits = []
    flaky = serve(tiny.source, _faulty(lambda n: "drop" if n <= 2 else "ok", hits, release))
    result = _download(runner, flaky)
    assert result.exit_code == 0, result.output
    assert f"from {flaky}" in result.stdout
    assert len(hits) == 6  # the first file took three tries
    for name, content in tiny.contents.items():
        assert (Path("data/mnist") / name).read_bytes() == content
    assert _files(Path("data/mnist")) == set(tiny.contents)  # no .part left


def test_a_mirror_that_always_drops_gives_one_clear_line(runner, tiny, serve, release):
    hits = []
    broken = serve(tiny.source, _faulty(lambda n: "drop", hits, release))
    result = _download(runner, broken)
    assert result.exit_code == 1
    assert "(3 tries)" in result.stderr and "--from DIR" in result.stderr
    assert result.stderr.count("\n") == 1
    assert len(hits) == 3  # three tries, then the next mirror (the dataset's own, dead here)
    assert DEAD_MIRROR in result.stderr
    assert _files(Path("data/mnist")) == set()


def test_a_server_that_never_answers_times_out(runner, tiny, serve, release):
    hits = []
    silent = serve(tiny.source, _faulty(lambda n: "stall", hits, release))
    result = _download(runner, silent)
    assert result.exit_code == 1
    assert "timed out (3 tries)" in result.stderr
    assert len(hits) == 3
    assert _files(Path("data/mnist")) == set()


def test_a_server_that_stalls_mid_body_then_the_next_mirror(
    runner, tiny, serve, release, monkeypatch
):
    monkeypatch.setattr(
        download_module, "DEFAULT_POLICY", dataclasses.replace(FAST_NETWORK, retries=0)
    )
    hits = []
    stalling = serve(tiny.source, _faulty(lambda n: "stall-mid", hits, release))
    good = serve(tiny.source)
    result = _download(runner, stalling, good)
    assert result.exit_code == 0, result.output
    assert f"from {good}" in result.stdout and stalling not in result.stdout
    assert len(hits) == 4
    assert _files(Path("data/mnist")) == set(tiny.contents)


def test_wrong_bytes_go_to_the_next_mirror_without_retrying(runner, tiny, serve, release, tmp_path):
    reversed_files = tmp_path / "reversed"
    reversed_files.mkdir()
    for name, content in tiny.contents.items():
        (reversed_files / f"{name}.gz").write_bytes(gzip.compress(content[::-1]))
    hits = []
    wrong = serve(reversed_files, _faulty(lambda n: "ok", hits, release))
    good = serve(tiny.source)
    result = _download(runner, wrong, good)
    assert result.exit_code == 0, result.output
    assert f"from {good}" in result.stdout and wrong not in result.stdout
    assert len(hits) == 4, (hits, result.output)


def test_an_interrupted_download_leaves_no_file(tiny, serve, tmp_path):
    def interrupt_midway(name, done, total):
        if done > 1000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(
            tiny.dataset, tmp_path / "data", [serve(tiny.source)], on_progress=interrupt_midway
        )
    assert _files(tmp_path / "data" / "mnist") == set()


# -- issue 29: a full disk


class _FullDisk:
    """A file open for writing on a disk with no space left: every write fails."""

    def __init__(self, real):
        self._real = real

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("how", ["mirror", "from"])
def test_a_full_disk_names_the_path_and_says_the_disk_is_full(
    runner, tiny, serve, monkeypatch, how
):
    from mnist_cli.data import extract

    real_new_temp = extract.new_temp
    monkeypatch.setattr(extract, "new_temp", lambda *a, **k: _FullDisk(real_new_temp(*a, **k)))
    hits = []
    if how == "mirror":
        result = _download(
            runner, serve(tiny.source, _faulty(lambda n: "ok", hits, threading.Event()))
        )
    else:
        result = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert result.exit_code == 1
    target = Path("data") / "mnist" / "train-images-idx3-ubyte"
    assert result.stderr == (
        f"error: cannot write {target}: the disk is full (no space left on device);"
        " free some space, or give another --data-dir\n"
    ), result.stderr
    assert "Errno" not in result.stderr
    assert len(hits) <= 1  # a full disk is not retried, nor the next mirror tried
    assert _files(Path("data/mnist")) == set()  # nothing half-written stays
