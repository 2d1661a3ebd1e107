"""review_requests.create / batch / get / cancel / list / wait and balance, sync and async,
against a MockTransport."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import inloop
import pytest
from inloop.models import ReviewRequestCreate
from inloop_fakes import Recorder, envelope, item, review_request


def _batch_answer(request, n):
    sent = json.loads(request.content)["requests"]
    offset = (n - 1) * 100
    return httpx.Response(
        201, json={"data": [review_request(offset + i) for i in range(len(sent))]}
    )


def test_batch_splits_any_iterable_into_calls_of_100_and_reports_progress(make_client):
    client, recorder, _ = make_client(_batch_answer)
    progress = []
    created = client.review_requests.batch(
        (item(n) for n in range(250)),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert len(created) == 250 and created[249].title == "Clause 249"
    assert [len(body["requests"]) for body in recorder.bodies()] == [100, 100, 50]
    assert progress == [(100, None), (200, None), (250, None)]
    keys = [r.headers["Idempotency-Key"] for r in recorder.requests]
    assert len(set(keys)) == 3 and keys[0].endswith("-0") and keys[2].endswith("-2")


def test_batch_of_a_list_knows_its_total_and_uses_the_prefix_given(make_client, capsys):
    client, recorder, _ = make_client(_batch_answer)
    progress = []
    client.review_requests.batch(
        [item(n) for n in range(150)],
        idempotency_key="nightly-2026-12-03",
        on_progress=lambda done, total: progress.append((done, total)),
        progress=True,
    )
    assert progress == [(100, 150), (150, 150)]
    assert [r.headers["Idempotency-Key"] for r in recorder.requests] == [
        "nightly-2026-12-03-0",
        "nightly-2026-12-03-1",
    ]
    assert "150/150" in capsys.readouterr().err  # the progress bar


def test_a_failing_batch_says_what_was_created_before_it(make_client):
    def answer(request, n):
        if n == 2:
            return envelope(422, "validation_error", "bad", field="requests[7].specialization")
        return _batch_answer(request, n)

    client, _, _ = make_client(answer)
    with pytest.raises(inloop.InloopValidationError) as raised:
        client.review_requests.batch([item(n) for n in range(250)])
    assert raised.value.batch_offset == 100 and len(raised.value.created) == 100
    assert raised.value.field == "requests[7].specialization"


def test_batch_size_is_1_to_100(make_client):
    client, recorder, _ = make_client(_batch_answer)
    with pytest.raises(ValueError, match="between 1 and 100"):
        client.review_requests.batch([item()], batch_size=101)
    assert recorder.requests == []


def test_a_body_sends_only_the_fields_given_and_keeps_an_explicit_null(make_client):
    client, recorder, _ = make_client(lambda r, n: httpx.Response(201, json=review_request()))
    client.review_requests.create(
        ReviewRequestCreate(
            title="t",
            specialization="s",
            content={"type": "json", "body": None},
            max_hours=1,
        )
    )
    assert recorder.bodies()[0] == {
        "title": "t",
        "specialization": "s",
        "content": {"type": "json", "body": None},
        "max_hours": 1.0,
    }


def test_an_unknown_field_is_refused_before_anything_is_sent(make_client):
    client, recorder, _ = make_client(lambda r, n: httpx.Response(201, json=review_request()))
    with pytest.raises(ValueError, match="max_hour"):
        client.review_requests.create(**item(), max_hour=2)
    assert recorder.requests == []


def test_list_follows_every_cursor(make_client):
    def answer(request, n):
        query = parse_qs(request.url.query.decode())
        assert query["limit"] == ["100"] and query["status"] == ["completed"]
        cursor = query.get("cursor", [None])[0]
        page = {None: (0, "c1"), "c1": (100, "c2"), "c2": (200, None)}[cursor]
        size = 100 if page[1] else 50
        return httpx.Response(
            200,
            json={
                "data": [review_request(page[0] + i) for i in range(size)],
                "next_cursor": page[1],
            },
        )

    client, recorder, _ = make_client(answer)
    listing = client.review_requests.list(status="completed")
    assert recorder.requests == []  # lazy: nothing fetched before iterating
    titles = [rr.title for rr in listing]
    assert titles == [f"Clause {n}" for n in range(250)]
    assert len(recorder.requests) == 3


def test_wait_polls_with_growing_intervals_until_final(make_client):
    statuses = ["queued", "in_review", "in_review", "completed"]
    client, recorder, waits = make_client(
        lambda r, n: httpx.Response(200, json=review_request(status=statuses[n - 1]))
    )
    done = client.review_requests.wait("x", poll_interval=2, max_poll_interval=4)
    assert done.status == "completed" and len(recorder.requests) == 4
    assert waits == [2, 3, 4]


def test_wait_gives_up_after_its_timeout(make_client):
    client, _, _ = make_client(lambda r, n: httpx.Response(200, json=review_request()))
    with pytest.raises(inloop.InloopWaitTimeout) as raised:
        client.review_requests.wait("x", timeout=0)
    assert raised.value.last_seen.status == "queued"
    assert isinstance(raised.value, TimeoutError)


def test_cancel_of_an_already_cancelled_request_returns_it(make_client):
    def answer(request, n):
        if request.method == "POST":
            return envelope(409, "not_cancellable", "Already cancelled.")
        return httpx.Response(200, json=review_request(status="cancelled"))

    client, _, _ = make_client(answer)
    assert client.review_requests.cancel("x").status == "cancelled"


def test_cancel_of_a_billed_request_raises_the_conflict(make_client):
    def answer(request, n):
        if request.method == "POST":
            return envelope(409, "already_billed", "Billed.")
        return httpx.Response(200, json=review_request(status="in_review"))

    client, _, _ = make_client(answer)
    with pytest.raises(inloop.InloopConflict) as raised:
        client.review_requests.cancel("x")
    assert raised.value.code == "already_billed"


def test_configuration_from_the_environment(monkeypatch):
    monkeypatch.setenv("INLOOP_API_KEY", "inl_env")
    monkeypatch.setenv("INLOOP_BASE_URL", "https://inloop.example.com/api/v1/")
    client = inloop.Inloop()
    assert client.base_url == "https://inloop.example.com/api/v1"
    assert client._http.headers["Authorization"] == "Bearer inl_env"
    client.close()
    monkeypatch.delenv("INLOOP_API_KEY")
    with pytest.raises(inloop.InloopAuthenticationError, match="INLOOP_API_KEY"):
        inloop.Inloop()


def test_the_async_client_retries_batches_and_pages():
    def answer(request, n):
        if n == 1:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path.endswith("/batch"):
            return _batch_answer(request, n - 1)
        cursor = parse_qs(request.url.query.decode()).get("cursor")
        return httpx.Response(
            200,
            json={
                "data": [review_request(1 if cursor else 0)],
                "next_cursor": None if cursor else "c",
            },
        )

    recorder = Recorder(answer)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def items():
        for n in range(150):
            yield item(n)

    async def run():
        async with inloop.AsyncInloop(
            api_key="k",
            base_url="http://inloop.test",
            transport=httpx.MockTransport(recorder),
            sleep=sleep,
        ) as client:
            created = await client.review_requests.batch(items())
            listed = [rr.title async for rr in client.review_requests.list()]
            return created, listed

    created, listed = asyncio.run(run())
    assert len(created) == 150 and len(waits) == 1
    keys = [r.headers["Idempotency-Key"] for r in recorder.requests[:3]]
    assert keys[0] == keys[1] != keys[2]  # the retried first batch kept its key
    assert listed == ["Clause 0", "Clause 1"]
