"""`mnist serve` against a hostile client (issue 29): a form of 100,000 parts, a request dripped
a byte at a time, connections held open or past the process's file descriptors, a Host that is
not ours (DNS rebinding), a POST from another site's page. Each gets a JSON answer at once or at
its deadline, and the server goes on answering. The model is a stand-in: the HTTP side is under
test here (tests/test_serve.py answers with real models)."""

from __future__ import annotations

import errno
import http.client
import json
import select
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_cli.serve import server as serve_server
from mnist_cli.serve.guard import Guard
from mnist_cli.serve.upload import MAX_PARTS, BadRequest, upload_of
from tests.serving import serving

TIMEOUT = 30  # seconds any one exchange may take before the test fails; claims nothing on speed
DEADLINE = 1.0  # the request deadline the slow-client tests set


class EchoModel:
    """Stands in for ServedModel: says what it was sent."""

    info = {"checkpoint": "ckpt.pt"}

    def answer(self, name: str, data: bytes) -> dict:
        return {"file": name, "bytes": len(data)}


@pytest.fixture
def server():
    with serving(EchoModel()) as started:
        yield started


def exchange(port: int, method: str, path: str, body: bytes = b"", headers=None):
    """(status, JSON) of one request on a new connection, with exactly the headers given
    (a Host of 127.0.0.1:port unless `headers` names its own)."""
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for key, value in headers.items():
            connection.putheader(key, value)
        if body or method == "POST":
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def healthy(port: int) -> bool:
    return exchange(port, "GET", "/healthz") == (200, {"status": "ok"})


def is_error(document: dict) -> bool:
    return list(document) == ["error"] and isinstance(document["error"], str)


def read_reply(connection: socket.socket) -> tuple[int, dict]:
    reply = http.client.HTTPResponse(connection)
    reply.begin()
    return reply.status, json.loads(reply.read())


# Item 4: a form's parts are capped, and split without the email package -----------------------


def test_a_form_of_100000_empty_parts_is_refused_with_a_json_413(server):
    body = b"--b\r\n\r\n" * 100_000 + b"--b--\r\n"  # 700 KB, well under the body's cap
    status, answer = exchange(
        server.port,
        "POST",
        "/api/predict",
        body,
        {"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert status == 413 and is_error(answer), answer
    assert f"more than {MAX_PARTS} parts" in answer["error"]
    assert healthy(server.port)  # and the server goes on


def form(*parts: tuple[str, bytes], boundary: str = "XyZ") -> bytes:
    """A multipart body of (Content-Disposition parameters, data) parts."""
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; {params}\r\n\r\n".encode()
        + data
        + b"\r\n"
        for params, data in parts
    )
    return body + f"--{boundary}--\r\n".encode()


def test_a_form_with_fields_and_a_file_is_answered(server):
    image = b"\x89PNG\r\n--XyZ- the boundary's text inside a part, not a delimiter"
    body = form(('name="note"', b"hello"), ('name="file"; filename="seven.png"', image))
    status, answer = exchange(
        server.port,
        "POST",
        "/api/predict",
        body,
        {"Content-Type": 'multipart/form-data; boundary="XyZ"'},
    )
    assert (status, answer) == (200, {"file": "seven.png", "bytes": len(image)})


def test_up_to_the_cap_of_parts_is_read_and_one_more_is_a_413():
    fields = [(f'name="field{index}"', b"x") for index in range(MAX_PARTS - 1)]
    content_type = "multipart/form-data; boundary=XyZ"
    upload = upload_of(content_type, form(*fields, ('name="file"; filename="a.png"', b"data")))
    assert (upload.name, upload.data) == ("a.png", b"data")
    with pytest.raises(BadRequest) as refused:
        upload_of(content_type, form(*fields, ('name="x"', b""), ('name="file"', b"data")))
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\ndata", "closing boundary"),
        (b"no boundary at all", "closing boundary"),
        (b"--XyZ\r\n" + b"X-Long: " + b"a" * 10_000 + b"\r\n\r\n\r\n--XyZ--", "headers are over"),
    ],
    ids=["unclosed", "no-boundary", "long-part-headers"],
)
def test_a_damaged_form_is_a_400(body, words):
    with pytest.raises(BadRequest) as refused:
        upload_of("multipart/form-data; boundary=XyZ", body)
    assert refused.value.status == 400 and words in str(refused.value)


FRAGMENTS = [b"--b", b"\r\n", b"--", b" ", b"\r\n\r\n", b"x", b'"', b";", b"\\"]
FRAGMENTS += [b"Content-Disposition: form-data", b'; name="file"', b"; filename=", b"filename*="]


@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=60),
    boundary=st.sampled_from(["b", '"b"', "b; boundary=c", '"b\\"', "", "é"]),
)
def test_any_form_made_of_its_own_pieces_is_an_upload_or_a_json_error(parts, boundary):
    try:
        upload = upload_of(f"multipart/form-data; boundary={boundary}", b"".join(parts))
    except BadRequest as refused:
        assert refused.status in (400, 413) and "\n" not in str(refused)
    else:
        assert isinstance(upload.data, bytes) and upload.name and upload.name.isprintable()


def test_an_rfc_5987_file_name_is_read():
    body = form(("name=\"file\"; filename*=UTF-8''%E2%82%AC7.png", b"data"))
    assert upload_of("multipart/form-data; boundary=XyZ", body).name == "€7.png"


# Item 5: one deadline per request, a cap on connections, no spin out of descriptors -----------


@pytest.mark.parametrize(
    ("head", "drop"),
    [
        (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n", b"x"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Drip: 1\r\n"),
        (b"", b"G"),
    ],
    ids=["body", "headers", "request-line"],
)
def test_a_request_dripped_slowly_gets_a_json_408_at_its_deadline(server, monkeypatch, head, drop):
    monkeypatch.setattr(serve_server, "REQUEST_DEADLINE", DEADLINE)
    drips = 40  # 8 s of drops every 0.2 s, each well inside a timeout per recv
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
        connection.sendall(head)
        for _ in range(drips):
            if select.select([connection], [], [], 0.2)[0]:
                break  # the server answered while the client was still sending
            connection.sendall(drop)
        else:
            raise AssertionError(f"still reading after {drips} drops over {DEADLINE} s")
        status, answer = read_reply(connection)
    assert status == 408 and is_error(answer), answer
    assert "did not arrive within 1 s" in answer["error"]
    assert healthy(server.port)


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(server, monkeypatch):
    monkeypatch.setattr(serve_server, "REQUEST_DEADLINE", DEADLINE)
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
        assert connection.recv(100) == b""  # closed, with nothing to answer
    assert healthy(server.port)


def test_a_kept_alive_connection_gets_a_fresh_deadline_per_request(server, monkeypatch):
    monkeypatch.setattr(serve_server, "REQUEST_DEADLINE", DEADLINE)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        for _ in range(3):  # 3 requests over more than the deadline, on one connection
            connection.request("GET", "/healthz")
            reply = connection.getresponse()
            assert reply.status == 200 and json.loads(reply.read()) == {"status": "ok"}
            time.sleep(DEADLINE / 2)
    finally:
        connection.close()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


def test_a_connection_past_the_cap_gets_a_json_503_at_once(server, monkeypatch):
    monkeypatch.setattr(serve_server, "MAX_CONNECTIONS", 2)
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)]
    held.append(socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT))
    try:
        wait_until(lambda: len(server.connections) == 2, "2 connections open")
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, answer = read_reply(extra)
        assert status == 503 and is_error(answer) and "busy" in answer["error"], answer
        assert len(server.connections) == 2  # the refused one took no thread
    finally:
        for connection in held:
            connection.close()
    wait_until(lambda: not server.connections, "the held connections closed")
    assert healthy(server.port)


def test_out_of_file_descriptors_the_accept_loop_pauses_instead_of_spinning(server, monkeypatch):
    tries = []

    def starved(self):
        tries.append(time.monotonic())
        raise OSError(errno.EMFILE, "Too many open files")

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "accept", starved)
        waiting = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        wait_until(lambda: tries, "an accept tried")  # the pending connection woke the loop
        tries.clear()
        time.sleep(0.5)
    # A loop that spins tries thousands of times in half a second; one that pauses, a few.
    assert 1 <= len(tries) <= 20, len(tries)
    with waiting:
        waiting.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert read_reply(waiting) == (200, {"status": "ok"})  # accepted once a descriptor is free


# Item 10: the Host must be a name of ours; a POST's Origin, this server's page ----------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "localhost.:{port}", "[::2]"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/api/info"), ("GET", "/healthz"), ("GET", "/nowhere")]
    + [("POST", "/api/predict"), ("HEAD", "/")],
)
def test_a_host_that_is_not_ours_gets_a_json_403_on_every_route(server, host, method, path):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host.format(port=server.port))
        connection.putheader("Content-Length", "3" if method == "POST" else "0")
        connection.endheaders(b"abc" if method == "POST" else None)
        reply = connection.getresponse()
        status, body = reply.status, reply.read()
    finally:
        connection.close()
    assert status == 403
    if method != "HEAD":
        answer = json.loads(body)
        assert is_error(answer) and "is not a name of this server" in answer["error"]
    assert healthy(server.port)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}", "localhost:9000"]
)
def test_the_loopback_names_are_answered_at_any_port(server, host):
    headers = {"Host": host.format(port=server.port)}
    assert exchange(server.port, "GET", "/healthz", headers=headers) == (200, {"status": "ok"})


def test_a_request_without_host_is_answered_and_two_hosts_are_a_400(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
        connection.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")  # HTTP/1.0 may send no Host
        assert read_reply(connection) == (200, {"status": "ok"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n"
        )
        status, answer = read_reply(connection)
    assert status == 400 and "more than one Host" in answer["error"]


@pytest.mark.parametrize(
    ("listen", "allowed", "refused"),
    [
        ("192.168.1.5", ["192.168.1.5:8000", "localhost:8000"], ["192.168.1.6", "evil.example"]),
        ("myhost.local", ["MyHost.local:8000", "[::1]"], ["myhost.local.evil.example"]),
        ("::1", ["[::1]:8000"], ["[::2]:8000"]),
        ("0.0.0.0", ["10.1.2.3:8000", "[fe80::1]:8000", "0.0.0.0"], ["evil.example:8000"]),
    ],
)
def test_the_host_given_with_listen_is_a_name_of_ours(listen, allowed, refused):
    guard = Guard.of(listen)
    for host in allowed:
        guard.check("GET", [host], None)
    for host in refused:
        with pytest.raises(BadRequest) as refusal:
            guard.check("GET", [host], None)
        assert refusal.value.status == 403


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://localhost:{port}", "https://127.0.0.1:{port}"],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_post_from_another_page_gets_a_json_403(server, origin, method):
    headers = {"Origin": origin.format(port=server.port), "Content-Type": "image/png"}
    status, answer = exchange(server.port, method, "/api/predict", b"image", headers)
    assert status == 403 and is_error(answer), answer
    assert "only this server's page may post" in answer["error"]
    assert healthy(server.port)


def test_a_post_from_our_own_page_or_from_no_page_is_answered(server):
    own = {"Origin": f"http://127.0.0.1:{server.port}"}
    expected = (200, {"file": "upload", "bytes": 5})
    assert exchange(server.port, "POST", "/api/predict", b"image", own) == expected
    assert exchange(server.port, "POST", "/api/predict", b"image") == expected  # curl, python
    # A GET changes nothing, and another site's page cannot read the answer (no CORS header).
    foreign = {"Origin": "http://evil.example"}
    assert exchange(server.port, "GET", "/healthz", headers=foreign)[0] == 200
