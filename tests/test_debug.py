"""Tracebacks: never shown, unless --debug or MNIST_DEBUG=1 asks; the exit code stays the same."""

from pathlib import Path

import pytest

from mnist_cli.checkpoint import read
from tests.conftest import app


@pytest.fixture
def broken_loader(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret-local-value")

    monkeypatch.setattr(read, "load_checkpoint", explode)
    Path("ckpt.pt").write_bytes(b"a file, so that the path check passes")


def test_no_traceback_by_default(runner, broken_loader):
    result = runner.invoke(app(), ["evaluate"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: unexpected RuntimeError: secret-local-value (--debug shows the traceback)\n"
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(runner, broken_loader, how, monkeypatch):
    if how == "env":
        monkeypatch.setenv("MNIST_DEBUG", "1")
    result = runner.invoke(app(), ["--debug", "evaluate"] if how == "flag" else ["evaluate"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'raise RuntimeError("secret-local-value")' in result.stderr
    assert result.stderr.endswith("(--debug shows the traceback)\n")


def test_debug_on_our_own_errors_too(runner):
    plain = runner.invoke(app(), ["evaluate", "nope.pt"])
    assert plain.exit_code == 1 and "Traceback" not in plain.stderr
    debug = runner.invoke(app(), ["--debug", "evaluate", "nope.pt"])
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "CheckpointError" in debug.stderr
    assert debug.stderr.endswith(
        "error: no checkpoint at nope.pt: train one with `mnist train` or give its path\n"
    )


def test_mnist_debug_0_means_off(runner, broken_loader, monkeypatch):
    monkeypatch.setenv("MNIST_DEBUG", "0")
    result = runner.invoke(app(), ["evaluate"])
    assert "Traceback" not in result.stderr
