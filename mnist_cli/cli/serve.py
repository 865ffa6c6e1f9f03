"""`mnist serve`: a page to draw a digit on, and an HTTP API that answers as `mnist predict`,
without torch where a checkpoint's verified export (or an export given directly) can answer."""

from __future__ import annotations

import ipaddress
import signal
import threading
import time
import webbrowser
from typing import Annotated

import typer

from mnist_cli.cli.options import Quiet, checkpoint_argument, refuse_export
from mnist_cli.cli.output import Output, output_of
from mnist_cli.config import DEFAULT_CHECKPOINT
from mnist_cli.errors import Terminated
from mnist_cli.paths import check_checkpoint_file

EXAMPLES = (
    "Examples:\n\n  mnist serve --open\n\n  mnist serve runs/big.pt --port 8080\n\n"
    "  curl -F file=@digit.png http://127.0.0.1:8000/api/predict"
)


def serve(
    ctx: typer.Context,
    checkpoint: checkpoint_argument(
        "The checkpoint that answers (its verified ckpt.onnx when there is one), or an ONNX export."
    ) = DEFAULT_CHECKPOINT,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Where to listen; 0.0.0.0 makes it reachable from the network.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", metavar="N", min=0, max=65535, help="The port; 0 picks a free one."),
    ] = 8000,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in a web browser once it is up.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Serve a page to draw digits on and an HTTP API (POST /api/predict) until Ctrl-C."""
    output = output_of(ctx, quiet)
    _hear_ctrl_c()
    with output.handled():
        from mnist_cli.inference.loader import is_export

        if not is_export(checkpoint):  # an export is checked as it loads (onnx_model.py)
            check_checkpoint_file(checkpoint)  # before torch may be imported: a typo costs no time
            refuse_export(checkpoint, "serve")  # a safetensors file: weights for torch alone
        from mnist_cli.serve.model import ServedModel
        from mnist_cli.serve.server import make_server

        model = ServedModel.open(checkpoint)
        server = make_server(model, host, port, lambda line: _log(output, line))
    with output.handled(), server:
        url = _url(host, server.port)
        output.err.print(
            f"serving {checkpoint} ({model.classifier.model_name} on {model.classifier.dataset}),"
            f" answering with {model.answered_by}, at {url} (Ctrl-C stops)",
            soft_wrap=True,
            highlight=False,
        )
        if not _is_loopback(host):
            output.warning_line(
                f"listening on {host}: reachable from the network, by anyone who can reach"
                " this machine (no password, no TLS)"
            )
        try:
            if open_browser:
                webbrowser.open(_url(host if _is_loopback(host) else "127.0.0.1", server.port))
            server.serve_forever()
        except KeyboardInterrupt as stop:
            if isinstance(stop, Terminated):
                raise  # SIGTERM: exit 143, as every command
            output.stopped_line("stopped (Ctrl-C)")


def _hear_ctrl_c() -> None:
    """A server started with `&` from a script inherits SIGINT ignored (bash sets it so for
    background jobs); as uvicorn does, serve takes it back, so `kill -INT` stops it as Ctrl-C
    does. Only the main thread may set a handler (CliRunner in a thread may not)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _log(output: Output, line: str) -> None:
    output.note(f"{time.strftime('%H:%M:%S')} {line}")


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
