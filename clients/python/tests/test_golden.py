"""client.golden_items (list over every page) and client.review_requests.mark_golden, sync and
async, against a MockTransport."""

from __future__ import annotations

import asyncio
import json

import httpx
import inloop
import pytest
from inloop_fakes import Recorder, envelope

RR = "00000000-0000-0000-0000-000000000007"


def golden_item(n: int = 1, **overrides) -> dict:
    data = {
        "id": str(n),
        "specialization": "law.contracts",
        "title": f"Clause {n}",
        "content": {"type": "text", "body": "The tenant may terminate at any time."},
        "prompt": "",
        "guidelines": "",
        "rubric": [{"key": "accuracy", "label": "Accuracy", "scale": 5}],
        "max_hours": 0.5,
        "expected_verdict": "rejected",
        "expected_scores": {"accuracy": 2},
        "tolerance": 1.0,
        "source_review_request_id": RR,
        "active": True,
        "created_at": "2026-12-07T14:00:00+00:00",
    }
    data.update(overrides)
    return data


def test_mark_golden_posts_the_tolerance_and_returns_the_item(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(201, json=golden_item()))
    item = client.review_requests.mark_golden(RR, tolerance=1)
    assert item.expected_verdict == "rejected" and item.expected_scores == {"accuracy": 2.0}
    assert item.created_at.year == 2026 and item.source_review_request_id == RR
    [request] = recorder.requests
    assert request.method == "POST"
    assert request.url.path == f"/api/v1/review-requests/{RR}/golden"
    assert json.loads(request.content) == {"tolerance": 1.0}


def test_a_tolerance_out_of_range_fails_before_anything_is_sent(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(201, json=golden_item()))
    with pytest.raises(ValueError):
        client.review_requests.mark_golden(RR, tolerance=11)
    assert recorder.requests == []


def test_a_retried_mark_whose_answer_was_lost_returns_its_own_item(make_client):
    answers = [
        httpx.Response(503),
        envelope(409, "already_golden", "This review is already a golden item."),
        httpx.Response(
            200,
            json={
                "data": [golden_item(2, source_review_request_id=None), golden_item(1)],
                "next_cursor": None,
            },
        ),
    ]
    client, recorder, waits = make_client(lambda request, n: answers[n - 1])
    item = client.review_requests.mark_golden(RR)
    assert item.id == "1" and len(waits) == 1
    assert [r.url.path for r in recorder.requests][-1] == "/api/v1/golden-items"


def test_a_request_not_completed_raises_the_conflict(make_client):
    client, _, _ = make_client(
        lambda request, n: envelope(409, "not_completed", "Only a completed review ...")
    )
    with pytest.raises(inloop.InloopConflict) as exc:
        client.review_requests.mark_golden(RR)
    assert exc.value.code == "not_completed"


def test_already_golden_by_someone_else_is_raised_when_no_item_is_found(make_client):
    def answer(request, n):
        if request.method == "POST":
            return envelope(409, "already_golden", "This review is already a golden item.")
        return httpx.Response(200, json={"data": [], "next_cursor": None})

    client, _, _ = make_client(answer)
    with pytest.raises(inloop.InloopConflict):
        client.review_requests.mark_golden(RR)


def test_list_follows_the_cursor(make_client):
    pages = [
        {"data": [golden_item(3), golden_item(2)], "next_cursor": "c1"},
        {"data": [golden_item(1)], "next_cursor": None},
    ]
    client, recorder, _ = make_client(lambda request, n: httpx.Response(200, json=pages[n - 1]))
    assert [i.id for i in client.golden_items.list(limit=2)] == ["3", "2", "1"]
    assert recorder.requests[0].url.params["limit"] == "2"
    assert recorder.requests[1].url.params["cursor"] == "c1"


def test_the_async_client_marks_and_lists():
    def answer(request, n):
        if request.method == "POST":
            return httpx.Response(201, json=golden_item())
        if "cursor" in request.url.params:
            return httpx.Response(200, json={"data": [golden_item(1)], "next_cursor": None})
        return httpx.Response(200, json={"data": [golden_item(2)], "next_cursor": "c"})

    recorder = Recorder(answer)

    async def run():
        async with inloop.AsyncInloop(
            api_key="k", base_url="http://inloop.test", transport=httpx.MockTransport(recorder)
        ) as client:
            made = await client.review_requests.mark_golden(RR, tolerance=0.5)
            listed = [item.id async for item in client.golden_items.list()]
            return made, listed

    made, listed = asyncio.run(run())
    assert made.tolerance == 1.0 and listed == ["2", "1"]
    assert json.loads(recorder.requests[0].content) == {"tolerance": 0.5}
