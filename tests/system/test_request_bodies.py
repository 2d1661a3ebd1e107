"""Request bodies over real HTTP against the running daphne: chunked bodies (no Content-Length)
over 1 MiB answer 413 without being parsed, Content-Length that lies about the body cannot
smuggle more than 1 MiB or reach a 500, and bad characters answer 422 naming the field.

Raw sockets, because httpx (like every well-behaved client) will not send these requests."""

from __future__ import annotations

import contextlib
import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.system.flows import request_body

URL = "/api/v1/review-requests"
MIB = 1024 * 1024


def _padded(size: int) -> bytes:
    """A valid create body of about `size` bytes (the padding in content.body)."""
    base = json.dumps(request_body(content={"type": "text", "body": ""})).encode()
    return json.dumps(
        request_body(content={"type": "text", "body": "x" * (size - len(base))})
    ).encode()


def _exchange(system, head: str, payload: bytes, *, timeout: float = 60) -> tuple[int, bytes]:
    """Send a raw request; the status and body of the first response."""
    parts = urlsplit(system.url)
    key = system.seed["company"]["api_key"]
    request = (
        f"POST {URL} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nConnection: close\r\n{head}\r\n"
    ).encode() + payload
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        # The server may answer and close before the whole body was sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), received[:300]
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


def _chunked(payload: bytes, chunk: int = 64 * 1024) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + chunk]), payload[i : i + chunk])
        for i in range(0, len(payload), chunk)
    )
    return out + b"0\r\n\r\n"


def _titles(system) -> list[str]:
    with system.api() as client:
        return [r["title"] for r in client.get(URL, params={"limit": 100}).json()["data"]]


@pytest.mark.parametrize("size", [2 * 1000 * 1000, 8 * 1000 * 1000])
def test_a_chunked_body_over_1_mib_is_413_and_creates_nothing(system, size):
    before = _titles(system)
    payload = _padded(size)
    status, body = _exchange(system, "Transfer-Encoding: chunked\r\n", _chunked(payload))
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert _titles(system) == before


def test_a_chunked_body_under_1_mib_is_served(system):
    payload = _padded(MIB - 4096)
    status, body = _exchange(system, "Transfer-Encoding: chunked\r\n", _chunked(payload))
    assert status == 201, body[:300]


def test_a_content_length_over_1_mib_is_413(system):
    payload = _padded(2 * MIB)
    status, body = _exchange(system, f"Content-Length: {len(payload)}\r\n", payload)
    assert status == 413, body[:300]


def test_a_content_length_shorter_than_the_body_reads_only_that_much(system):
    # The server reads the declared 20 bytes (not JSON on their own) and never the rest.
    before = _titles(system)
    payload = _padded(2 * MIB)
    status, body = _exchange(system, "Content-Length: 20\r\n", payload)
    assert status == 400, body[:300]
    assert json.loads(body)["error"]["code"] == "malformed_json"
    assert _titles(system) == before


def test_content_length_and_chunked_together_are_refused(system):
    # A proxy and the server could disagree about where such a body ends (smuggling).
    before = _titles(system)
    payload = _chunked(_padded(2 * MIB))
    status, _ = _exchange(system, "Content-Length: 20\r\nTransfer-Encoding: chunked\r\n", payload)
    assert status in (400, 413)
    assert _titles(system) == before


@pytest.mark.parametrize("declared", ["abc", "-1", "1e3"])
def test_a_content_length_that_is_not_a_number_is_400(system, declared):
    payload = json.dumps(request_body()).encode()
    status, _ = _exchange(system, f"Content-Length: {declared}\r\n", payload)
    assert status == 400


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (json.dumps(request_body(title="a\u0000b")), "title"),
        (json.dumps(request_body(metadata={"a": ["ok", "\ud800"]})), "metadata.a[1]"),
        (
            json.dumps(request_body(content={"type": "json", "body": {"x": "__inf__"}})).replace(
                '"__inf__"', "1e999"
            ),
            "content.body.x",
        ),
    ],
)
def test_bad_characters_over_http_are_422_naming_the_field(system, raw, field):
    with system.api() as client:
        response = client.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
