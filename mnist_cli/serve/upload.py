"""What a client sent to `POST /api/predict`: the image in a multipart form (the first part that
carries a file) or the raw body, read within a cap in bytes. Anything else is a `BadRequest`
with its HTTP status and a one-line reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote

MAX_BODY_BYTES = 20 * 2**20  # a phone's photo fits; predict's own cap on a file is 100 MiB
RAW_NAME = "upload"  # the `file` of a raw body, which has no name of its own
MAX_PARTS = 16  # a real form has one file and perhaps a few fields; each part costs parsing
MAX_PART_HEADER_BYTES = 8 * 2**10  # a part's headers: a name and a type, not a document
_PADDING = re.compile(rb"[ \t]*\r\n")  # what may follow a boundary on its delimiter line
# `; key=value` or `; key="quoted"`; an unclosed quote runs to the end rather than backtracking.
_PARAMETER = re.compile(r'\s*;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')
_ESCAPED = re.compile(r"\\(.)")


class BadRequest(Exception):
    """A request the server answers with `status` and `{"error": str(self)}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    name: str  # the file name the client gave, or RAW_NAME
    data: bytes


def body_length(content_length: str | None, limit: int = MAX_BODY_BYTES) -> int:
    """The body's length from its Content-Length header, refused before a byte is read when it
    is missing (411), not a number (400) or over `limit` (413)."""
    if content_length is None:
        raise BadRequest(411, "send the image with a Content-Length (no chunked uploads)")
    text = content_length.strip()
    if not text.isdigit() or not text.isascii():
        raise BadRequest(400, f"Content-Length is not a number: {content_length[:40]!r}")
    length = int(text)
    if length > limit:
        raise BadRequest(413, f"the body is {length:,} bytes, over the cap of {limit:,}")
    return length


def read_body(stream: BinaryIO, length: int) -> bytes:
    """Exactly `length` bytes (already capped), or a 400 if the client stops sending."""
    data = stream.read(length) if length else b""
    if len(data) != length:
        raise BadRequest(400, f"the body ended after {len(data):,} of {length:,} bytes")
    return data


def upload_of(content_type: str | None, body: bytes) -> Upload:
    """The image in a request body: a multipart form's first file part, or the body itself."""
    if (content_type or "").split(";")[0].strip().lower() != "multipart/form-data":
        return Upload(RAW_NAME, body)
    return _first_file(content_type or "", body)


def _first_file(content_type: str, body: bytes) -> Upload:
    for part in _parts(body, _boundary(content_type)):
        headers, data = _split_part(part)
        disposition = _parameters(headers.get("content-disposition", ""))
        name = _file_name(disposition)
        if name is None and disposition.get("name") != "file":
            continue
        return Upload(_plain_name(name), data)
    raise BadRequest(400, "the multipart form has no file part: send the image as `file`")


def _boundary(content_type: str) -> bytes:
    boundary = _parameters(content_type).get("boundary", "")
    if not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise BadRequest(400, "the multipart form has no boundary of 1 to 70 ASCII characters")
    return boundary.encode("ascii")


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts between a form's delimiter lines (RFC 2046 5.1.1), split with `bytes.find`: at
    most MAX_PARTS of them (a 413 past that, before any is parsed); a 400 if it never closes."""
    text = b"\r\n" + body  # the first delimiter may open the body, with no line break before it
    delimiter = b"\r\n--" + boundary
    parts: list[bytes] = []
    start, position = None, 0
    while (found := text.find(delimiter, position)) >= 0:
        position = found + len(delimiter)
        closing = text.startswith(b"--", position)
        line_end = _PADDING.match(text, position)
        if not closing and line_end is None:
            continue  # the boundary's text inside a part, not a delimiter line
        if start is not None:
            if len(parts) == MAX_PARTS:
                raise BadRequest(
                    413, f"the multipart form has more than {MAX_PARTS} parts: send one file"
                )
            parts.append(text[start:found])
        if closing:
            return parts
        start = position = line_end.end()
    raise BadRequest(400, "the multipart form does not end with its closing boundary")


def _split_part(part: bytes) -> tuple[dict[str, str], bytes]:
    """A part's headers (names in lower case) and its data; its headers within their cap."""
    if part.startswith(b"\r\n"):
        return {}, part[2:]
    end = part.find(b"\r\n\r\n", 0, MAX_PART_HEADER_BYTES + 4)
    if end < 0 and len(part) > MAX_PART_HEADER_BYTES:
        raise BadRequest(400, f"a part's headers are over {MAX_PART_HEADER_BYTES:,} bytes")
    head, data = (part, b"") if end < 0 else (part[:end], part[end + 4 :])
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers.setdefault(key.strip().lower(), value.strip())
    return headers, data


def _parameters(value: str) -> dict[str, str]:
    """The parameters of a header's value (`form-data; name="file"; filename="7.png"`): names
    in lower case, quoted values unquoted. One pass from left to right, so any text is linear."""
    found: dict[str, str] = {}
    position = value.find(";")
    while position >= 0:
        match = _PARAMETER.match(value, position)
        if match is None:  # `; flag` with no value: skip to the next parameter
            position = value.find(";", position + 1)
            continue
        key, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = _ESCAPED.sub(r"\1", raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:])
        found.setdefault(key, raw.strip())
        position = match.end()
    return found


def _file_name(disposition: dict[str, str]) -> str | None:
    """`filename`, or RFC 5987's `filename*=UTF-8''...` when that is all a client sent."""
    if "filename" in disposition or "filename*" not in disposition:
        return disposition.get("filename")
    charset, _, rest = disposition["filename*"].partition("'")
    try:
        return unquote(rest.partition("'")[2], encoding=charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return unquote(rest.partition("'")[2], errors="replace")


def _plain_name(name: str | None) -> str:
    """The file name as a client gave it, without folders or control characters, for the row's
    `file` and the log."""
    base = (name or RAW_NAME).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:200]
    return cleaned or RAW_NAME
