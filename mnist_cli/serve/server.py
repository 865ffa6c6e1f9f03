"""The HTTP side of `mnist serve`: the standard library's ThreadingHTTPServer (a thread per
connection, up to a cap), the routes, a deadline on each request, and answers that are JSON for
every error. It never prints: each request becomes one log line handed to the callback the CLI
gives (`log`)."""

from __future__ import annotations

import errno
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from mnist_cli.errors import ImageError, ServeError
from mnist_cli.serve.guard import DeadlineReader, Guard
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
# Read at each use, so a test may set them small.
REQUEST_DEADLINE = 30.0  # seconds for a whole request to arrive (line, headers, body), however sent
WRITE_TIMEOUT = 30.0  # seconds an answer may take to leave: a client that reads nothing is let go
MAX_CONNECTIONS = 32  # open at once; one more is answered 503 at once and closed
ACCEPT_PAUSE = 0.1  # seconds between tries to accept while the process has no file descriptor left
# Out of file descriptors or memory: accepting again at once would fail again, at full speed.
ACCEPT_STARVED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
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
    timeout = WRITE_TIMEOUT  # until the first read; reads then keep to the request's deadline

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the base's reader: every read goes through the deadline instead
        self.reader = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.start(REQUEST_DEADLINE)
        self.started = time.perf_counter()  # parse_request sets it again once a request line came
        self.command = self.path = None
        self.request_version, self.answered = "", False
        super().handle_one_request()  # the base drops a connection whose read timed out
        if self.reader.expired and self.reader.received and not self.answered:
            self.too_slow()  # some of a request came, not all of it: the client hears why

    def too_slow(self) -> None:
        """A 408 for a request that did not arrive in time, and the connection closed."""
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = self.protocol_version  # its request line never came whole
        self.send_error(408, f"the request did not arrive within {REQUEST_DEADLINE:g} s")

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
            self.server.guard.check(
                self.command, self.headers.get_all("Host") or [], self.headers.get("Origin")
            )
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
            self.close_connection = True  # the rest of the body would read as the next request
            raise BadRequest(
                408, f"the request did not arrive within {REQUEST_DEADLINE:g} s"
            ) from None
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
        self.answered = True
        self.connection.settimeout(WRITE_TIMEOUT)  # the reads left it at what their deadline left
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
        self.guard = Guard.of(address[0])
        self.assets = {name: _asset(name) for name, _ in STATIC.values()}
        self.connections: set[socket.socket] = set()  # those open, at most MAX_CONNECTIONS
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as error:
            if error.errno in ACCEPT_STARVED:  # wait for a descriptor to close, never spin
                time.sleep(ACCEPT_PAUSE)
            raise  # the base goes back to its loop; the connection waits in the backlog

    def verify_request(self, request, client_address) -> bool:
        """Whether a connection gets a thread: not past MAX_CONNECTIONS, where it gets a 503."""
        with self.connections_lock:
            if len(self.connections) < MAX_CONNECTIONS:
                self.connections.add(request)
                return True
        self.log(f"{client_address[0]} refused: {MAX_CONNECTIONS} connections are open")
        _refuse(request)
        return False

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """A connection that failed mid-way (a client gone): one log line, not a traceback."""
        error = sys.exc_info()[1]
        self.log(f"{client_address[0]} connection failed: {type(error).__name__}: {error}")

    @property
    def port(self) -> int:
        return self.server_address[1]


def _refuse(connection: socket.socket) -> None:
    """One connection too many: a 503 sent without waiting (the accept loop must not block),
    and what the client sent already read, since closing on unread bytes resets the connection
    before the client reads the answer."""
    _, _, body = _json_reply(503, {"error": f"busy: {MAX_CONNECTIONS} connections are open"})
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    try:
        connection.setblocking(False)
        connection.send(head.encode("ascii") + body)
        connection.shutdown(socket.SHUT_WR)
        connection.recv(65536)
    except OSError:
        pass  # a client already gone, or one that sent nothing yet: closed all the same


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
