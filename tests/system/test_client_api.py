"""The Python client (clients/python, package `inloop`) against the running processes: typed
objects, batches, pagination, errors from the envelope, and a create retried after a dropped
connection that creates once. (Webhooks: test_client_webhooks.py.)"""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
import inloop
import pytest
from inloop.models import ReviewRequest


def _item(tag: str, n: int = 0, **overrides) -> dict:
    body = {
        "title": f"Clause {n}",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": f"The tenant may terminate at any time ({n})."},
        "max_hours": 0.5,
        "metadata": {"tag": tag, "n": n},
    }
    body.update(overrides)
    return body


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting the HTTP requests the client makes."""

    def __init__(self):
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


@pytest.fixture
def client(system) -> Iterator[inloop.Inloop]:
    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as c:
        yield c


def _tagged(client: inloop.Inloop, tag: str) -> list[ReviewRequest]:
    return [rr for rr in client.review_requests.list() if rr.metadata.get("tag") == tag]


def test_create_get_and_cancel_are_typed_objects(client):
    tag = uuid.uuid4().hex
    created = client.review_requests.create(**_item(tag), reviewers=2)
    assert isinstance(created, ReviewRequest)
    assert created.status == "queued" and created.reviewers == 2
    assert isinstance(created.created_at, datetime) and created.created_at.tzinfo is not None

    fetched = client.review_requests.get(created.id)
    assert fetched.id == created.id and fetched.metadata == {"tag": tag, "n": 0}

    cancelled = client.review_requests.cancel(created.id)
    assert cancelled.status == "cancelled" and cancelled.is_final
    # A second cancel (say, a retry whose first answer was lost) returns the outcome asked for.
    assert client.review_requests.cancel(created.id).status == "cancelled"
    assert client.review_requests.wait(created.id, timeout=5).status == "cancelled"


def test_balance_is_the_seeded_credit(client):
    balance = client.balance()
    assert balance.currency == "usd"
    assert balance.available_cents + balance.held_cents >= 1_000_000


def test_a_batch_of_250_is_three_calls_reporting_progress(system):
    transport = CountingTransport()
    tag = uuid.uuid4().hex
    progress: list[tuple[int, int | None]] = []
    with inloop.Inloop(
        api_key=system.seed["company"]["api_key"], base_url=system.url, transport=transport
    ) as client:
        created = client.review_requests.batch(
            (_item(tag, n) for n in range(250)),  # a generator: no len()
            on_progress=lambda done, total: progress.append((done, total)),
        )
        assert [rr.metadata["n"] for rr in created] == list(range(250))
        assert [(r.method, r.url.path) for r in transport.requests] == [
            ("POST", "/api/v1/review-requests/batch")
        ] * 3
        assert progress == [(100, None), (200, None), (250, None)]
        keys = {r.headers["Idempotency-Key"] for r in transport.requests}
        assert len(keys) == 3
        assert len(_tagged(client, tag)) == 250


def test_list_iterates_every_page_once_newest_first(client):
    tag = uuid.uuid4().hex
    created = client.review_requests.batch([_item(tag, n) for n in range(250)])
    seen = [rr for rr in client.review_requests.list(limit=100) if rr.metadata.get("tag") == tag]
    assert len(seen) == 250
    assert {rr.id for rr in seen} == {rr.id for rr in created}
    order = [(rr.created_at, rr.id) for rr in seen]
    assert order == sorted(order, reverse=True)
    pages = list(client.review_requests.pages(limit=100))
    assert all(len(page.data) == 100 for page in pages[:-1])
    assert pages[-1].next_cursor is None


def test_errors_carry_the_envelope(system, client):
    with pytest.raises(inloop.InloopValidationError) as invalid:
        client.review_requests.create(**_item("x", specialization="law.no-such-thing"))
    assert invalid.value.status_code == 422
    assert invalid.value.code == "validation_error"
    assert invalid.value.field == "specialization"

    with pytest.raises(inloop.InloopValidationError) as in_batch:
        client.review_requests.batch(
            [_item("x", n) for n in range(100)] + [_item("x", 100, max_hours=99)]
        )
    # The first batch went through; the second refused its item 0 (item 100 of the input).
    assert in_batch.value.field == "requests[0].max_hours"
    assert in_batch.value.batch_offset == 100 and len(in_batch.value.created) == 100

    with pytest.raises(inloop.InloopNotFound) as missing:
        client.review_requests.get(str(uuid.uuid4()))
    assert missing.value.code == "not_found"

    with (
        inloop.Inloop(api_key="inl_wrong", base_url=system.url) as wrong,
        pytest.raises(inloop.InloopAuthenticationError) as unauthorized,
    ):
        wrong.balance()
    assert unauthorized.value.status_code == 401

    key = f"k-{uuid.uuid4().hex}"
    client.review_requests.create(**_item("x", 1), idempotency_key=key)
    with pytest.raises(inloop.InloopIdempotencyConflict) as conflict:
        client.review_requests.create(**_item("x", 2), idempotency_key=key)
    assert conflict.value.field == "Idempotency-Key"


@contextmanager
def cutting_proxy(upstream: str) -> Iterator[dict]:
    """An HTTP proxy on 127.0.0.1 that forwards every call, and drops the connection instead of
    answering the first create (after the server handled it): what a pipeline sees when a
    load balancer or network cuts a response."""
    log: dict = {"cut": 0, "forwarded": []}
    http_client = httpx.Client(base_url=upstream, timeout=30)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
            }
            upstream_response = http_client.request(
                self.command, self.path, content=body, headers=headers
            )
            log["forwarded"].append((self.command, self.path, upstream_response))
            if self.command == "POST" and self.path == "/api/v1/review-requests" and not log["cut"]:
                log["cut"] += 1
                self.close_connection = True
                return  # the server created it; the client hears nothing
            payload = upstream_response.content
            self.send_response(upstream_response.status_code)
            for name, value in upstream_response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    log["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield log
    finally:
        server.shutdown()
        server.server_close()
        http_client.close()


def test_a_create_whose_response_is_cut_is_retried_and_creates_once(system, client):
    tag = uuid.uuid4().hex
    waits: list[float] = []
    with (
        cutting_proxy(system.url) as proxy,
        inloop.Inloop(
            api_key=system.seed["company"]["api_key"], base_url=proxy["url"], sleep=waits.append
        ) as through_proxy,
    ):
        created = through_proxy.review_requests.create(**_item(tag))
    assert proxy["cut"] == 1 and len(waits) == 1
    first, second = proxy["forwarded"]
    assert first[2].status_code == 201  # the server did create on the first attempt
    assert second[2].headers.get("Idempotent-Replayed") == "true"
    assert second[2].json()["id"] == first[2].json()["id"] == created.id
    assert [rr.id for rr in _tagged(client, tag)] == [created.id]


def test_the_async_client_creates_and_pages(system):
    tag = uuid.uuid4().hex

    async def run() -> tuple[list[str], list[str]]:
        async with inloop.AsyncInloop(
            api_key=system.seed["company"]["api_key"], base_url=system.url
        ) as client:
            created = await client.review_requests.batch([_item(tag, n) for n in range(120)])
            one = await client.review_requests.create(**_item(tag, 120))
            listed = [
                rr.id async for rr in client.review_requests.list() if rr.metadata["tag"] == tag
            ]
            return [rr.id for rr in [*created, one]], listed

    created, listed = asyncio.run(run())
    assert len(created) == 121 and sorted(created) == sorted(listed)
