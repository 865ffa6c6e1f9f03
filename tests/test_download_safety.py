"""Downloads that share a data dir or meet a mirror that trickles (issue 12, items 4 and 7): one
download per dataset folder, the second says which process holds it; "all files verified" only
after the bytes on disk are checked; a file that does not arrive within the deadline is given
up on, however steadily its bytes trickle in; credentials in a mirror URL are never printed."""

import dataclasses
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mnist_cli.data import download as download_module
from tests.conftest import FAST_NETWORK, REPO, app
from tests.test_download_faults import _faulty


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()


def _start(tiny, *arguments) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MNIST_DATA_DIR", None)
    command = [sys.executable, "-m", "tests.tiny_cli", str(tiny.source), *arguments]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120  # a bound on the test, not a claim about speed
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first download never started"
        time.sleep(0.02)


def test_a_second_download_into_the_same_folder_says_who_holds_it(runner, tiny, serve, release):
    stalling = serve(tiny.source, _faulty(lambda n: "stall-mid", [], release))
    first = _start(tiny, "download", "--mirror", stalling)
    folder = Path("data/mnist")
    try:
        _wait_for(lambda: (folder / f".train-images-idx3-ubyte.{first.pid}.part").exists(), first)
        second = runner.invoke(app(), ["download", "--from", str(tiny.source)])
        assert second.exit_code == 1
        assert second.stderr == (
            f"error: {folder} is being written by process {first.pid} (another mnist download):"
            " wait for it to finish\n"
        )
    finally:
        first.kill()
        first.wait(timeout=60)
    again = runner.invoke(app(), ["download", "--from", str(tiny.source)])  # the lock died with it
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(tiny.contents)  # stale .part gone


def test_all_files_verified_means_the_bytes_on_disk(runner, tiny, monkeypatch):
    real_replace = os.replace

    def replace_then_damage(source, target):
        real_replace(source, target)
        if Path(target).name == "t10k-labels-idx1-ubyte":
            with open(target, "r+b") as damaged:  # as another writer, or a failing disk, would
                damaged.write(b"\xff")

    monkeypatch.setattr(os, "replace", replace_then_damage)
    result = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert result.exit_code == 1
    assert "all files verified" not in result.output
    assert result.stderr == (
        "error: data/mnist/t10k-labels-idx1-ubyte changed on disk after it was verified:"
        " download again\n"
    )


class _Trickle(http.server.SimpleHTTPRequestHandler):
    """Sends the headers, then one byte every 50 ms (far inside any read timeout), for at
    most 20 s."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        until = time.monotonic() + 20
        for byte in body:
            if time.monotonic() > until:
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)


def test_a_trickling_mirror_is_given_up_on_at_the_deadline(runner, tiny, serve, monkeypatch):
    patient = dataclasses.replace(FAST_NETWORK, read_timeout=5.0, file_deadline=1.0, retries=0)
    monkeypatch.setattr(download_module, "DEFAULT_POLICY", patient)
    trickle = serve(tiny.source, _Trickle)
    result = runner.invoke(app(), ["download", "--mirror", trickle, "--mirror", serve(tiny.source)])
    assert result.exit_code == 0, result.output  # the next mirror, after the deadline
    assert result.stdout.count("downloaded") == 4

    alone = runner.invoke(app(), ["download", "--force", "--mirror", trickle])
    assert alone.exit_code == 1
    assert f"{trickle}train-images-idx3-ubyte.gz: too slow: the file did not arrive within 1 s" in (
        alone.stderr
    )


def test_credentials_in_a_mirror_url_are_never_printed(runner, tiny):
    result = runner.invoke(app(), ["download", "--mirror", "http://ann:hunter2@127.0.0.1:9/"])
    assert result.exit_code == 1
    assert "hunter2" not in result.output and "ann" not in result.output
    assert "http://***@127.0.0.1:9/train-images-idx3-ubyte.gz" in result.stderr
