"""Comparison requests through POST /api/v1/review-requests and /batch: every wrong shape is a
422 naming its field and creates nothing; a good one is stored and echoed (with its models) to
the company, and never shown to experts with its models."""

from __future__ import annotations

import pytest

from review_requests.models import ReviewRequest
from tests.review_requests.api_offers_support import api_client, body, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/review-requests"


def candidate(cid: str, **overrides) -> dict:
    return {"id": cid, "type": "text", "body": f"Answer {cid}.", **overrides}


def comparison(mode: str = "pairwise", candidates=None, **overrides) -> dict:
    return {
        "type": "comparison",
        "mode": mode,
        "candidates": candidates if candidates is not None else [candidate("a"), candidate("b")],
        **overrides,
    }


def test_a_pairwise_comparison_is_stored_and_echoed_with_its_models(api_key):
    content = comparison(
        candidates=[candidate("a", model="acme-7b"), candidate("b", type="markdown", body="# B")]
    )
    response = post_json(api_client(api_key), URL, body(content=content))
    assert response.status_code == 201, response.content
    data = response.json()
    expected = {
        "type": "comparison",
        "mode": "pairwise",
        "blind_models": True,
        "candidates": [
            {"id": "a", "type": "text", "body": "Answer a.", "model": "acme-7b"},
            {"id": "b", "type": "markdown", "body": "# B"},
        ],
    }
    assert data["content"] == expected
    stored = ReviewRequest.objects.get(pk=data["id"])
    assert stored.content_type == "comparison"
    assert stored.content == expected
    # Read back, one and in the list: the same echo.
    client = api_client(api_key)
    assert client.get(f"{URL}/{data['id']}").json()["content"] == expected
    assert client.get(URL).json()["data"][0]["content"] == expected


def test_other_requests_do_not_echo_content(api_key):
    data = post_json(api_client(api_key), URL, body()).json()
    assert "content" not in data
    assert "content" not in api_client(api_key).get(URL).json()["data"][0]


@pytest.mark.parametrize(
    "content",
    [
        comparison("rank", [candidate("a"), candidate("b"), candidate("c"), candidate("d")]),
        comparison("rank", [candidate("x"), candidate("y")], blind_models=False),
        comparison(
            "rank",
            [
                candidate("code", type="code", body="print(1)", language="python"),
                candidate("json", type="json", body={"answer": 4}),
                candidate("chat", type="chat", body=[{"role": "assistant", "content": "4"}]),
            ],
        ),
    ],
)
def test_rank_comparisons_of_two_to_four_candidates_of_any_type_are_accepted(api_key, content):
    response = post_json(api_client(api_key), URL, body(content=content))
    assert response.status_code == 201, response.content
    assert response.json()["content"]["blind_models"] is content.get("blind_models", True)


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        (comparison(candidates=[candidate("a")]), "content.candidates", "at least 2"),
        (
            comparison("rank", [candidate(c) for c in "abcde"]),
            "content.candidates",
            "at most 4",
        ),
        (
            comparison("pairwise", [candidate("a"), candidate("b"), candidate("c")]),
            "content.candidates",
            "exactly 2",
        ),
        (comparison(candidates=[candidate("a"), candidate("a")]), "content.candidates", "twice"),
        (comparison(mode="best-of"), "content.mode", "pairwise"),
        (
            {"type": "comparison", "candidates": [candidate("a"), candidate("b")]},
            "content.mode",
            "required",
        ),
        ({"type": "comparison", "mode": "rank"}, "content.candidates", "required"),
        (
            comparison(candidates=[candidate("a"), candidate("b", body=["not", "text"])]),
            "content.candidates[1].body",
            "string",
        ),
        (
            comparison(candidates=[candidate("a"), candidate("b", type="chat", body=[])]),
            "content.candidates[1].body",
            "non-empty list",
        ),
        (
            comparison(candidates=[candidate("a", body="   "), candidate("b")]),
            "content.candidates[0].body",
            "empty",
        ),
        (
            comparison(candidates=[candidate("a", language="python"), candidate("b")]),
            "content.candidates[0].language",
            "code",
        ),
        (
            comparison(candidates=[candidate("a", type="image"), candidate("b")]),
            "content.candidates[0].type",
            "",
        ),
        (comparison(candidates=[candidate(""), candidate("b")]), "content.candidates[0].id", ""),
        (
            comparison(candidates=[candidate("x" * 65), candidate("b")]),
            "content.candidates[0].id",
            "",
        ),
        (
            comparison(candidates=[candidate("a", extra=1), candidate("b")]),
            "content.candidates[0].extra",
            "",
        ),
        (comparison(body="also this"), "content.body", "candidates"),
        ({"type": "text", "body": "x", "mode": "rank"}, "content.mode", "comparison"),
        (
            {"type": "text", "body": "x", "candidates": [candidate("a")]},
            "content.candidates",
            "comparison",
        ),
        ({"type": "text", "body": "x", "blind_models": True}, "content.blind_models", "comparison"),
    ],
)
def test_a_wrong_comparison_is_a_422_naming_its_field(api_key, content, field, words):
    response = post_json(api_client(api_key), URL, body(content=content))
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert words in error["message"]
    assert not ReviewRequest.objects.exists()


def test_a_missing_text_body_is_still_named_as_before(api_key):
    response = post_json(api_client(api_key), URL, body(content={"type": "text"}))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "content.body"


def test_batch_of_comparisons_is_all_or_nothing_and_names_the_item(api_key):
    good = body(content=comparison())
    bad = body(content=comparison("pairwise", [candidate("a"), candidate("b"), candidate("c")]))
    response = post_json(api_client(api_key), f"{URL}/batch", {"requests": [good, bad]})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == "requests[1].content.candidates"
    assert not ReviewRequest.objects.exists()

    response = post_json(api_client(api_key), f"{URL}/batch", {"requests": [good, body()]})
    assert response.status_code == 201, response.content
    first, second = response.json()["data"]
    assert first["content"]["mode"] == "pairwise"
    assert "content" not in second


def test_the_openapi_document_describes_the_comparison_fields(client):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    content = schema["ContentIn"]["properties"]
    assert {"mode", "candidates", "blind_models"} <= set(content)
    assert "comparison" in str(content["type"])
    assert "model" in schema["CandidateIn"]["properties"]
