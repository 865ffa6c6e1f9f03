"""What a client sent to `POST /api/predict`: the image in a multipart form (the first part that
carries a file) or the raw body, read within a cap in bytes. Anything else is a `BadRequest`
with its HTTP status and a one-line reason."""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import BinaryIO

MAX_BODY_BYTES = 20 * 2**20  # a phone's photo fits; predict's own cap on a file is 100 MiB
RAW_NAME = "upload"  # the `file` of a raw body, which has no name of its own


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
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    try:
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        parts = list(message.iter_parts()) if message.is_multipart() else []
    except Exception as error:  # the email package raises many kinds for damaged input
        raise BadRequest(400, f"cannot read the multipart form ({error})") from None
    for part in parts:
        name = part.get_filename()
        if name is None and part.get_param("name", header="content-disposition") != "file":
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            return Upload(_plain_name(name), data)
    raise BadRequest(400, "the multipart form has no file part: send the image as `file`")


def _plain_name(name: str | None) -> str:
    """The file name as a client gave it, without folders or control characters, for the row's
    `file` and the log."""
    base = (name or RAW_NAME).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:200]
    return cleaned or RAW_NAME
