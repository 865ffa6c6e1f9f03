"""Who may ask `mnist serve`, and for how long: the Host names it answers to (so a page on a
rebound DNS name cannot read it), the Origin a POST may come from (so another site's page
cannot post to it), and a request's reads held to one deadline, whatever pace a client sends at."""

from __future__ import annotations

import io
import ipaddress
import math
import socket
import time
from dataclasses import dataclass

from mnist_cli.serve.upload import BadRequest

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")  # --host values that listen on every address
SAFE_METHODS = ("GET", "HEAD")  # they change nothing: any Origin may send them


@dataclass(frozen=True)
class Guard:
    """The Host and Origin rules of a server started with one `--host`."""

    names: frozenset[str]  # the Host names answered to, in lower case, IPv6 in brackets
    any_address: bool  # listening on every address: any IP address is a name of ours too

    @classmethod
    def of(cls, host: str) -> Guard:
        own = f"[{host}]" if ":" in host else host
        return cls(frozenset({*LOOPBACK_NAMES, own.lower()}), host in WILDCARDS)

    def check(self, method: str, hosts: list[str], origin: str | None) -> None:
        """A BadRequest unless the request names this server as its Host (at any port: a
        tunnel may forward another) and, for a method that changes something, comes from no
        page or from this server's own page."""
        if len(hosts) > 1:
            raise BadRequest(400, "the request has more than one Host header")
        host = hosts[0] if hosts else None
        if host is not None and not self._is_ours(host):
            names = ", ".join(sorted(self.names)) + (" or an address" if self.any_address else "")
            raise BadRequest(403, f"Host {host[:80]!r} is not a name of this server: use {names}")
        if origin is not None and method not in SAFE_METHODS and not _same(origin, host):
            raise BadRequest(
                403, f"{method} from the page of {origin[:80]!r}: only this server's page may post"
            )

    def _is_ours(self, host: str) -> bool:
        authority = _authority(host)
        if authority is None:
            return False
        name = authority[0]
        return name in self.names or (self.any_address and _is_address(name))


def _authority(value: str) -> tuple[str, int] | None:
    """`name[:port]` -> (the name in lower case, the port or 80); None when malformed. Only
    names of ours and IP addresses pass the checks above, so the name needs no grammar here."""
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 address, with its colons inside the brackets
        end = value.find("]") + 1
        name, rest = (value[:end], value[end:]) if end else ("", "")
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    port = rest.removeprefix(":")
    if not name or rest[:1] not in ("", ":") or not (port.isdigit() or rest == ""):
        return None
    if not port.isascii() or (port and int(port) > 65535):
        return None
    return name, int(port) if port else 80


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


def _same(origin: str, host: str | None) -> bool:
    """Whether a browser's Origin (`http://name:port`) is the page of the Host asked."""
    scheme, separator, rest = origin.strip().partition("://")
    if host is None or not separator or scheme.lower() != "http":
        return False  # `null` (a sandboxed page, a file), https: never this server's page
    return _authority(rest) == _authority(host) is not None


class DeadlineReader(io.RawIOBase):
    """A connection's reads held to one deadline per request (`start`), not a timeout per
    `recv`: a client that drips a byte at a time runs out of time as one that sends nothing."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.ends = math.inf
        self.received = 0  # bytes of this request so far
        self.expired = False  # a read of this request ran out of time

    def start(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.received = 0
        self.expired = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.ends - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError("the request's deadline has passed")
            self.connection.settimeout(left)
            count = self.connection.recv_into(buffer)
        except TimeoutError:
            self.expired = True
            raise
        self.received += count
        return count
