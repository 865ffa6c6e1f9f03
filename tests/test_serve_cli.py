"""`mnist serve` as a person runs it: a real process stopped by Ctrl-C (exit 0, no traceback)
or SIGTERM (143), the warning on --host 0.0.0.0, --open, and the one-line errors of a missing
checkpoint or export, a safetensors file or a port already taken. Every server started here is
stopped."""

from __future__ import annotations

import re
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import app
from tests.serving import URL, ServeProcess


@pytest.fixture
def serving():
    """serving(*arguments) -> a started ServeProcess; every one is killed after the test."""
    started: list[ServeProcess] = []

    def start(*arguments: str, **options) -> ServeProcess:
        started.append(ServeProcess(*arguments, **options))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "healthz", timeout=30) as reply:
        return reply.status == 200


@pytest.mark.parametrize(
    ("number", "code", "line"),
    [(signal.SIGINT, 0, "stopped (Ctrl-C)"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_the_server_without_a_traceback(
    tiny_checkpoint, serving, number, code, line
):
    server = serving(str(tiny_checkpoint.resolve()), "--port", "0")
    url = server.wait_for(URL).group(1)
    assert url.startswith("http://127.0.0.1:")
    assert healthy(url)
    exit_code, stderr = server.stop(number)
    assert exit_code == code, stderr
    assert stderr.rstrip().endswith(line)
    assert "Traceback" not in stderr and "error" not in stderr
    assert '"GET /healthz" 200' in stderr  # the request's log line
    assert "warning" not in stderr


def _as_a_background_job() -> None:
    """What bash does to a job started with `&` in a script: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_kill_int_stops_a_server_started_in_the_background(tiny_checkpoint, serving):
    server = serving(str(tiny_checkpoint.resolve()), "--port", "0", start=_as_a_background_job)
    assert healthy(server.wait_for(URL).group(1))
    exit_code, stderr = server.stop(signal.SIGINT)
    assert exit_code == 0, stderr
    assert stderr.rstrip().endswith("stopped (Ctrl-C)") and "Traceback" not in stderr


def test_binding_every_address_warns_that_the_network_can_reach_it(tiny_checkpoint, serving):
    server = serving(str(tiny_checkpoint.resolve()), "--host", "0.0.0.0", "--port", "0")
    warning = server.wait_for(re.compile(r"^warning: .*"))
    assert "reachable from the network" in warning.group(0)
    url = next(URL.search(line) for line in server.seen if URL.search(line)).group(1)
    port = url.rsplit(":", 1)[1].rstrip("/")
    assert healthy(f"http://127.0.0.1:{port}/")
    exit_code, stderr = server.stop(signal.SIGINT)
    assert exit_code == 0 and "Traceback" not in stderr


def test_open_starts_a_browser_on_the_page(tiny_checkpoint, runner, monkeypatch):
    opened = []

    def browser(url):
        opened.append(url)
        raise KeyboardInterrupt  # then the person presses Ctrl-C

    monkeypatch.setattr("webbrowser.open", browser)
    result = runner.invoke(app(), ["serve", str(tiny_checkpoint), "--port", "0", "--open"])
    assert result.exit_code == 0, result.output
    (url,) = opened
    assert url.startswith("http://127.0.0.1:") and url in result.stderr
    assert "stopped (Ctrl-C)" in result.stderr


def test_a_taken_port_is_one_line(tiny_checkpoint, runner):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app(), ["serve", str(tiny_checkpoint), "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["missing.pt"], "no checkpoint at missing.pt"),
        (["model.onnx"], "no model at model.onnx"),
        (["ckpt.pt", "--port", "70000"], "65535"),
    ],
)
def test_bad_arguments_are_one_line(runner, arguments, words):
    result = runner.invoke(app(), ["serve", *arguments])
    assert result.exit_code in (1, 2)
    assert words in result.stderr and "Traceback" not in result.stderr


def test_a_file_that_is_not_a_checkpoint_is_refused(runner):
    Path("notes.pt").write_text("not a checkpoint")
    result = runner.invoke(app(), ["serve", "notes.pt"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ")


def test_a_safetensors_file_is_refused_with_what_reads_it(runner):
    Path("weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    result = runner.invoke(app(), ["serve", "weights.safetensors"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: mnist serve reads a checkpoint (.pt)")
