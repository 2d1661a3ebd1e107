"""Agreement over requests on the client: `client.agreement(...)` (sync and async) sends only the
filters given, as the server's query names them, and reads the answer into its typed model;
the server's refusals arrive as the matching exceptions. Against a MockTransport."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import inloop
import pytest
from inloop.models import Agreement
from inloop_fakes import Recorder

ANSWER = {
    "from": "2026-11-01",
    "to": "2026-12-07",
    "specialization": "medicine",
    "policy": "triage",
    "requests": 10,
    "verdict": 0.095,
    "scores": {"accuracy": 0.095, "clarity": None},
    "by_specialization": [
        {"specialization": "medicine.radiology", "requests": 10, "verdict": 0.095}
    ],
    "by_month": [
        {"month": "2026-11", "requests": 10, "verdict": 0.095},
        {"month": "2026-12", "requests": 0, "verdict": None},
    ],
}


def test_agreement_sends_the_given_filters_and_reads_the_figures(make_client):
    client, recorder, _ = make_client(lambda request, n: httpx.Response(200, json=ANSWER))
    figures = client.agreement(
        first=date(2026, 11, 1), last=date(2026, 12, 7), specialization="medicine", policy="triage"
    )
    [request] = recorder.requests
    assert (request.method, request.url.path) == ("GET", "/api/v1/agreement")
    assert dict(request.url.params) == {
        "from": "2026-11-01",
        "to": "2026-12-07",
        "specialization": "medicine",
        "policy": "triage",
    }
    assert isinstance(figures, Agreement)
    assert (figures.first, figures.last) == (date(2026, 11, 1), date(2026, 12, 7))
    assert figures.requests == 10 and figures.verdict == pytest.approx(0.095)
    assert figures.scores == {"accuracy": 0.095, "clarity": None}
    assert figures.by_specialization[0].specialization == "medicine.radiology"
    assert [(m.month, m.requests, m.verdict) for m in figures.by_month] == [
        ("2026-11", 10, 0.095),
        ("2026-12", 0, None),
    ]


def test_agreement_without_filters_sends_no_query(make_client):
    empty = {**ANSWER, "specialization": None, "policy": None, "requests": 0, "verdict": None,
             "scores": {}, "by_specialization": [], "by_month": []}  # fmt: skip
    client, recorder, _ = make_client(lambda request, n: httpx.Response(200, json=empty))
    figures = client.agreement()
    assert dict(recorder.requests[0].url.params) == {}
    assert figures.requests == 0 and figures.verdict is None and figures.policy is None


def test_an_unknown_policy_is_not_found_and_a_bad_period_a_validation_error(make_client):
    def answer(request, n):
        if "policy" in request.url.params:
            body = {"error": {"code": "not_found", "message": "No policy.", "field": None}}
            return httpx.Response(404, json=body)
        body = {"error": {"code": "validation_error", "message": "bad", "field": "from"}}
        return httpx.Response(422, json=body)

    client, _, _ = make_client(answer)
    with pytest.raises(inloop.InloopNotFound):
        client.agreement(policy="nope")
    with pytest.raises(inloop.InloopValidationError) as refused:
        client.agreement(first=date(2026, 12, 7), last=date(2026, 11, 1))
    assert refused.value.field == "from"


def test_the_async_client_has_the_same_agreement_method():
    recorder = Recorder(lambda request, n: httpx.Response(200, json=ANSWER))

    async def run():
        async with inloop.AsyncInloop(
            api_key="k", base_url="http://t", transport=httpx.MockTransport(recorder)
        ) as client:
            return await client.agreement(specialization="medicine")

    figures = asyncio.run(run())
    assert figures.requests == 10
    [request] = recorder.requests
    assert request.url.path == "/api/v1/agreement"
    assert dict(request.url.params) == {"specialization": "medicine"}
