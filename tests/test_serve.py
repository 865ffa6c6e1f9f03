"""`mnist serve` over HTTP on 127.0.0.1 at an ephemeral port: real MNIST digits saved as PNG and
drawn digits are answered with exactly the row `mnist predict --json` gives, /api/info is what
`mnist info --json` says; every bad request gets its status and a JSON error, and the server
lives on; one log line per request; requests are handled concurrently."""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from mnist_cli.serve.upload import MAX_BODY_BYTES, BadRequest, body_length, upload_of
from tests.conftest import REPO, app, real_test_digits
from tests.serving import ONE, SEVEN, multipart, png_bytes, running_server, train_tiny

TIMEOUT = 30  # seconds any one request may take before the test fails


@pytest.fixture(scope="module")
def tiny_model(tiny_files, tmp_path_factory) -> Path:
    """An mlp trained for one epoch on the synthetic dataset: enough for the bad requests."""
    return train_tiny(tiny_files, tmp_path_factory.mktemp("serve-tiny"))


@pytest.fixture(scope="module")
def tiny_server(tiny_model):
    """(base URL, log lines) of a server of the tiny model, for the whole module."""
    log: list[str] = []
    with running_server(tiny_model, log) as base:
        yield base, log


def call(base: str, path: str, method: str = "GET", body: bytes | None = None, headers=None):
    """(status, headers, JSON document) of one request."""
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
            return reply.status, reply.headers, json.loads(reply.read())
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, json.loads(refused.read())


def predict_rows(runner, checkpoint: Path, files: list[str]) -> list[dict]:
    result = runner.invoke(app(), ["predict", *files, "--checkpoint", str(checkpoint), "--json"])
    return json.loads(result.stdout)


def drawn(strokes: list[list[tuple[int, int]]]) -> bytes:
    """A digit drawn as the page draws it: black strokes 18 pixels wide on a white 280 square."""
    canvas = Image.new("RGB", (280, 280), "white")
    pen = ImageDraw.Draw(canvas)
    for stroke in strokes:
        pen.line(stroke, fill="black", width=18, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse((x - 9, y - 9, x + 9, y + 9), fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


# Real MNIST and drawn digits -------------------------------------------------------------------


@pytest.mark.real_data
def test_real_digits_get_the_rows_predict_gives(real_checkpoint, runner):
    digits = real_test_digits(real_checkpoint, 20)
    names = []
    for index, (pixels, _) in enumerate(digits):
        names.append(f"digit{index}.png")
        Path(names[-1]).write_bytes(png_bytes(pixels))
    expected = predict_rows(runner, real_checkpoint, names)
    with running_server(real_checkpoint) as base:
        for name, row in zip(names, expected, strict=True):
            body, headers = multipart(name, Path(name).read_bytes())
            status, _, form = call(base, "/api/predict", "POST", body, headers)
            status_raw, _, raw = call(base, "/api/predict", "POST", Path(name).read_bytes())
            assert status == status_raw == 200
            assert form.pop("input").startswith("data:image/png;base64,")
            assert form == row  # exactly the row of `mnist predict --json`
            assert raw.pop("input") and raw == {**row, "file": "upload"}
    right = sum(
        row["prediction"] == label for row, (_, label) in zip(expected, digits, strict=True)
    )
    assert right >= 18, expected


@pytest.mark.real_data
def test_the_input_is_the_28x28_the_model_saw(real_checkpoint, runner, tmp_path):
    import base64

    (pixels, _), *_ = real_test_digits(real_checkpoint, 1)
    Path("digit.png").write_bytes(png_bytes(pixels))
    runner.invoke(
        app(),
        ["predict", "digit.png", "--checkpoint", str(real_checkpoint)]
        + ["--save-preprocessed", str(tmp_path / "seen")],
    )
    with running_server(real_checkpoint) as base:
        _, _, row = call(base, "/api/predict", "POST", Path("digit.png").read_bytes())
    data = base64.b64decode(row["input"].split(",", 1)[1])
    shown = Image.open(io.BytesIO(data))
    assert shown.size == (28, 28) and shown.mode == "L"
    assert shown.tobytes() == Image.open(tmp_path / "seen" / "digit.png").tobytes()


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("strokes", "digit"),
    [(SEVEN, 7), (ONE, 1)],
)
def test_a_drawn_digit_is_read(real_checkpoint, strokes, digit):
    with running_server(real_checkpoint) as base:
        status, _, row = call(
            base, "/api/predict", "POST", drawn(strokes), {"Content-Type": "image/png"}
        )
    assert status == 200 and row["prediction"] == digit, row


@pytest.mark.real_data
def test_info_is_what_mnist_info_says(real_checkpoint, runner):
    result = runner.invoke(app(), ["info", str(real_checkpoint), "--json"])
    with running_server(real_checkpoint) as base:
        status, _, info = call(base, "/api/info")
    assert status == 200 and info == json.loads(result.stdout)


# The page and its assets -----------------------------------------------------------------------


def test_the_page_and_its_assets_come_from_the_package(tiny_server):
    base, _ = tiny_server
    for path, kind in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
    ]:
        with urllib.request.urlopen(base + path, timeout=TIMEOUT) as reply:
            text = reply.read().decode()
            assert reply.headers["Content-Type"].startswith(kind)
        # offline: nothing fetched from another origin, no web font
        assert "http://" not in text and "https://" not in text and "@import" not in text
        assert "@font-face" not in text
    with urllib.request.urlopen(base + "/", timeout=TIMEOUT) as reply:
        assert "default-src 'self'" in reply.headers["Content-Security-Policy"]
    assert call(base, "/healthz")[::2] == (200, {"status": "ok"})


def test_a_non_editable_install_ships_the_page():
    tomllib = pytest.importorskip("tomllib")
    from mnist_cli.serve.server import STATIC

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["mnist_cli.serve"]
    package = REPO / "mnist_cli" / "serve"
    shipped = {path for pattern in globs for path in package.glob(pattern)}
    assert {package / "static" / name for name, _ in STATIC.values()} <= shipped


# Bad requests ----------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height 1-bit pixels: a header, no picture (a bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\0" * 64)
    idat = (
        struct.pack(">I", len(data))
        + b"IDAT"
        + data
        + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    )
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + end


@pytest.mark.parametrize(
    "content",
    [b"hello, not an image", png_header(30_000, 30_000), png_header(8_000, 8_000), b""],
    ids=["text", "bomb", "too-many-pixels", "empty"],
)
def test_what_predict_refuses_is_a_400_with_its_reason(tiny_server, tiny_model, runner, content):
    base, _ = tiny_server
    Path("upload").write_bytes(content)
    (expected,) = predict_rows(runner, tiny_model, ["upload"])
    status, _, answer = call(base, "/api/predict", "POST", content)
    assert status == 400
    assert answer == {"error": expected["error"]}  # predict's one-line reason, word for word


def raw_exchange(base: str, request: bytes) -> tuple[int, dict]:
    """Send bytes as they are on a new connection; the status and JSON of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as connection:
        connection.sendall(request)
        reply = http.client.HTTPResponse(connection)
        reply.begin()
        return reply.status, json.loads(reply.read())


@pytest.mark.parametrize(
    ("request_bytes", "status", "words"),
    [
        (
            f"POST /api/predict HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n",
            413,
            "over the cap",
        ),
        ("POST /api/predict HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 400, "not a number"),
        ("POST /api/predict HTTP/1.1\r\nHost: localhost\r\n\r\n", 411, "Content-Length"),
        (
            "POST /api/predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            411,
            "no chunked uploads",
        ),
        ("DELETE /api/predict HTTP/1.1\r\n\r\n", 405, "use POST"),
        ("GET /api/predict HTTP/1.1\r\n\r\n", 405, "use POST"),
        ("POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, "use GET"),
        ("BREW /api/predict HTTP/1.1\r\n\r\n", 405, "Unsupported method"),
        ("GET /nothing/here HTTP/1.1\r\n\r\n", 404, "nothing at /nothing/here"),
        ("POST /api/other HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 404, "nothing at"),
        ("GET / two spaces HTTP/1.1\r\n\r\n", 400, "Bad request"),
    ],
    ids=[
        "413",
        "bad-length",
        "411",
        "411-chunked",
        "405-delete",
        "405-get",
        "405-post",
        "405-brew",
        "404",
        "404-post",
        "400-garbage",
    ],
)
def test_every_bad_request_gets_its_status_and_a_json_error(
    tiny_server, request_bytes, status, words
):
    base, _ = tiny_server
    got, answer = raw_exchange(base, request_bytes.encode())
    assert got == status and list(answer) == ["error"], answer
    assert words in answer["error"]
    assert call(base, "/healthz")[0] == 200  # the server lives on


def test_a_form_without_a_file_is_a_400(tiny_server):
    base, _ = tiny_server
    body, headers = multipart("x.png", b"data", field="note")
    body = body.replace(b'; filename="x.png"', b"")
    status, _, answer = call(base, "/api/predict", "POST", body, headers)
    assert status == 400 and "no file part" in answer["error"]


def test_405_says_which_methods_are_allowed(tiny_server):
    base, _ = tiny_server
    status, headers, _ = call(base, "/api/predict", "DELETE")
    assert status == 405 and headers["Allow"] == "POST"


def test_one_log_line_per_request(tiny_model):
    log: list[str] = []
    with running_server(tiny_model, log) as base:
        call(base, "/healthz")
        call(base, "/api/predict", "POST", b"not an image")
        call(base, "/missing")
    assert len(log) == 3, log
    assert '"GET /healthz" 200' in log[0]
    assert '"POST /api/predict" 400' in log[1] and log[1].startswith("127.0.0.1 ")
    assert '"GET /missing" 404' in log[2] and log[2].endswith(" ms")


def test_requests_are_handled_concurrently(tiny_server):
    base, _ = tiny_server
    host, port = base.removeprefix("http://").split(":")
    # A client that sends half its body and waits holds its thread; the others are answered.
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as slow:
        slow.sendall(b"POST /api/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        image = png_bytes(np.zeros((28, 28), np.uint8))
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: call(base, "/api/predict", "POST", image), range(32)))
    assert [status for status, _, _ in answers] == [200] * 32


# Parsing what clients send ---------------------------------------------------------------------


@given(
    content_type=st.one_of(
        st.none(), st.text(max_size=80), st.just("multipart/form-data; boundary=b")
    ),
    body=st.binary(max_size=400),
)
def test_any_body_is_an_upload_or_a_bad_request(content_type, body):
    try:
        upload = upload_of(content_type, body)
    except BadRequest as refused:
        assert refused.status in (400, 413) and "\n" not in str(refused)  # 413: too many parts
    else:
        assert isinstance(upload.data, bytes) and upload.name and upload.name.isprintable()


@given(st.one_of(st.none(), st.text(max_size=30)))
def test_any_content_length_is_a_length_or_a_bad_request(header):
    try:
        length = body_length(header)
    except BadRequest as refused:
        assert refused.status in (400, 411, 413)
    else:
        assert 0 <= length <= MAX_BODY_BYTES


def test_a_form_files_name_loses_its_folders():
    body, headers = multipart("../../etc/pass\x1bwd.png", b"data")
    assert upload_of(headers["Content-Type"], body).name == "passwd.png"
