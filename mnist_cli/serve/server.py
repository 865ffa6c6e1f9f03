"""The HTTP side of `mnist serve`: the standard library's ThreadingHTTPServer (a thread per
connection), the routes, and answers that are JSON for every error. It never prints: each
request becomes one log line handed to the callback the CLI gives (`log`)."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from mnist_cli.errors import ImageError, ServeError
from mnist_cli.serve.model import ServedModel
from mnist_cli.serve.upload import BadRequest, body_length, read_body, upload_of

# The page and its two assets, served from the package (no CDN, no web fonts): path -> file, type.
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
# path -> method -> the Handler method that answers it.
ROUTES: dict[str, dict[str, str]] = {
    **{path: {"GET": "static_file"} for path in STATIC},
    "/api/predict": {"POST": "predict"},
    "/api/info": {"GET": "info"},
    "/healthz": {"GET": "health"},
}
# Nothing but this server: the browser refuses any other origin, inline script included.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
READ_TIMEOUT = 30.0  # seconds a client may take to send a request: no thread waits forever
Log = Callable[[str], None]
Reply = tuple[int, str, bytes]  # status, content type, body


def _printable(text: str, limit: int = 200) -> str:
    """A client's text made safe for one log line: no control characters, bounded."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _json_reply(status: int, document: Any) -> Reply:
    return status, "application/json", json.dumps(document).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    """One connection's requests (HTTP/1.1, kept alive); the routes are in ROUTES."""

    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "mnist-serve"
    timeout = READ_TIMEOUT

    def parse_request(self) -> bool:
        self.started = time.perf_counter()
        self.body_pending = False
        return super().parse_request()

    def route(self) -> None:
        path = urlsplit(self.path).path
        methods = ROUTES.get(path)
        extra = {}
        self.body_pending = (  # a body this request may not read: see send()
            self.headers.get("Content-Length", "0").strip() not in ("", "0")
            or "Transfer-Encoding" in self.headers
        )
        try:
            if methods is None:
                raise BadRequest(404, f"nothing at {_printable(path, 80)}: try / or /api/predict")
            method = "GET" if self.command == "HEAD" else self.command  # HEAD: GET's headers
            if method not in methods:
                extra["Allow"] = ", ".join(methods)
                raise BadRequest(
                    405, f"{self.command} is not allowed on {path}: use {extra['Allow']}"
                )
            reply = getattr(self, methods[method])(path)
        except BadRequest as refused:
            reply = _json_reply(refused.status, {"error": str(refused)})
        except Exception as error:  # a bug of ours: answered and logged, the server lives on
            self.server.log(f"unexpected {type(error).__name__}: {error}")
            reply = _json_reply(500, {"error": f"unexpected {type(error).__name__}: {error}"})
        self.send(reply, extra)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = route

    def static_file(self, path: str) -> Reply:
        name, content_type = STATIC[path]
        return 200, content_type, self.server.assets[name]

    def info(self, path: str) -> Reply:
        return _json_reply(200, self.server.model.info)

    def health(self, path: str) -> Reply:
        return _json_reply(200, {"status": "ok"})

    def predict(self, path: str) -> Reply:
        length = body_length(self.headers.get("Content-Length"))
        try:
            body = read_body(self.rfile, length)
        except TimeoutError:
            raise BadRequest(408, f"the body did not arrive within {READ_TIMEOUT:.0f} s") from None
        finally:
            self.body_pending = False  # read, or the connection is closed below
        upload = upload_of(self.headers.get("Content-Type"), body)
        try:
            return _json_reply(200, self.server.model.answer(upload.name, upload.data))
        except ImageError as why:
            raise BadRequest(400, str(why)) from None

    def send(self, reply: Reply, headers: dict[str, str] | None = None) -> None:
        status, content_type, body = reply
        if getattr(self, "body_pending", False):  # a body not read cannot be skipped: close
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", PAGE_POLICY)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """The base class's own refusals (a malformed request line, headers too long, a method
        no do_ handles), as JSON like ours; any method we have no route for is a 405."""
        self.close_connection = True
        self.started = getattr(self, "started", time.perf_counter())
        status = HTTPStatus.METHOD_NOT_ALLOWED if code == HTTPStatus.NOT_IMPLEMENTED else code
        self.send(_json_reply(status, {"error": message or HTTPStatus(status).phrase}))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request: client, method, path, status, milliseconds."""
        milliseconds = (time.perf_counter() - self.started) * 1000
        command = _printable(getattr(self, "command", None) or "-", 20)
        path = _printable(getattr(self, "path", None) or "-")
        self.server.log(
            f'{self.client_address[0]} "{command} {path}" {int(code)} {milliseconds:.0f} ms'
        )

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # timeouts and the like: the request line, if any, was logged by log_request


class Server(ThreadingHTTPServer):
    """The server of one model; `log` receives one line per request."""

    daemon_threads = True  # Ctrl-C does not wait for a client that keeps its connection open

    def __init__(self, address: tuple[str, int], model: ServedModel, log: Log):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.model = model
        self.log = log
        self.assets = {name: _asset(name) for name, _ in STATIC.values()}
        super().__init__(address, Handler)

    def handle_error(self, request, client_address) -> None:
        """A connection that failed mid-way (a client gone): one log line, not a traceback."""
        error = sys.exc_info()[1]
        self.log(f"{client_address[0]} connection failed: {type(error).__name__}: {error}")

    @property
    def port(self) -> int:
        return self.server_address[1]


def _asset(name: str) -> bytes:
    return resources.files("mnist_cli.serve").joinpath("static", name).read_bytes()


def make_server(model: ServedModel, host: str, port: int, log: Log) -> Server:
    """A server bound to host:port (0: any free port), not yet serving; ServeError if it cannot
    listen there."""
    try:
        return Server((host, port), model, log)
    except OSError as error:
        why = getattr(error, "strerror", None) or str(error)
        raise ServeError(
            f"cannot listen on {host}:{port}: {why}: choose another --port or --host"
        ) from None
