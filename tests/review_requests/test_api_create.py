"""POST /api/v1/review-requests: validation exactly per the contract's field table, auth, the
error envelope (ninja's validation, malformed JSON, 404, 405, 413, 401, 429)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from review_requests.models import RequestStatusChange, ReviewRequest
from tests.conftest import login_client
from tests.review_requests.api_offers_support import api_client, body, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/review-requests"


def _error(response) -> dict:
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "field"}
    return payload["error"]


def test_create_returns_the_contract_object_and_queues_it(api_key, organization):
    response = post_json(
        api_client(api_key),
        URL,
        body(
            metadata={"pipeline": "nightly", "n": 3},
            reviewers=2,
            max_hourly_rate_cents=15_000,
            rubric=[{"key": "accuracy", "label": "Accuracy", "scale": 5}],
            prompt="Summarize the scan",
            model="gpt-x",
            guidelines="Check **laterality**.",
        ),
    )
    assert response.status_code == 201
    data = response.json()
    for key in ("id", "status", "title", "specialization", "created_at", "deadline"):
        assert key in data
    assert data["status"] == "queued"
    assert data["specialization"] == "medicine.radiology"
    assert data["reviewers"] == 2
    assert data["max_hours"] == 1.5
    assert data["metadata"] == {"pipeline": "nightly", "n": 3}
    assert data["assignments"] == []
    assert data["result"] is None
    assert (data["cost_cents"], data["currency"]) == (0, "usd")
    stored = ReviewRequest.objects.get(pk=data["id"])
    assert stored.organization == organization
    assert stored.model_name == "gpt-x"
    assert stored.rubric == [{"key": "accuracy", "label": "Accuracy", "scale": 5}]
    assert stored.created_by_key is not None
    history = RequestStatusChange.objects.get(review_request=stored)
    assert (history.from_status, history.to_status) == ("", "queued")


@pytest.mark.parametrize(
    "content",
    [
        {"type": "text", "body": "plain"},
        {"type": "markdown", "body": "# Title"},
        {"type": "code", "body": "print(1)", "language": "python"},
        {"type": "code", "body": "print(1)"},
        {"type": "json", "body": {"a": [1, 2, None]}},
        {"type": "json", "body": 42},
        {"type": "json", "body": None},
        {
            "type": "chat",
            "body": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        },
    ],
)
def test_every_content_shape_of_the_contract_is_accepted(api_key, content):
    response = post_json(api_client(api_key), URL, body(content=content))
    assert response.status_code == 201, response.json()
    stored = ReviewRequest.objects.get(pk=response.json()["id"])
    assert stored.content_type == content["type"]
    assert stored.content["body"] == content["body"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"specialization": "medicine.astrology"}, "specialization"),
        ({"content": {"type": "video", "body": "x"}}, "content.type"),
        ({"content": {"type": "text", "body": 3}}, "content.body"),
        ({"content": {"type": "text", "body": ""}}, "content.body"),
        ({"content": {"type": "chat", "body": "hi"}}, "content.body"),
        ({"content": {"type": "chat", "body": [{"role": "user"}]}}, "content.body[0].content"),
        ({"content": {"type": "text", "body": "x", "language": "python"}}, "content.language"),
        ({"max_hours": 0.1}, "max_hours"),
        ({"max_hours": 40.5}, "max_hours"),
        ({"max_hours": "lots"}, "max_hours"),
        ({"max_hourly_rate_cents": 0}, "max_hourly_rate_cents"),
        ({"reviewers": 0}, "reviewers"),
        ({"reviewers": 6}, "reviewers"),
        ({"deadline": "2001-01-01T00:00:00Z"}, "deadline"),
        ({"deadline": "2099-01-01T00:00:00"}, "deadline"),
        ({"callback_url": "http://example.com/hook"}, "callback_url"),
        ({"callback_url": "http://localhost:9000/hook"}, "callback_url"),
        ({"callback_url": "https://127.0.0.1/hook"}, "callback_url"),
        ({"callback_url": "https://10.0.0.5/hook"}, "callback_url"),
        ({"callback_url": "https://169.254.169.254/latest"}, "callback_url"),
        ({"metadata": {"blob": "x" * (16 * 1024)}}, "metadata"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        (
            {
                "rubric": [
                    {"key": "a", "label": "A", "scale": 5},
                    {"key": "a", "label": "B", "scale": 5},
                ]
            },
            "rubric",
        ),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field_and_create_nothing(api_key, overrides, field):
    response = post_json(api_client(api_key), URL, body(**overrides))
    assert response.status_code == 422, response.json()
    error = _error(response)
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert error["message"]
    assert not ReviewRequest.objects.exists()


@pytest.mark.parametrize("missing", ["title", "specialization", "content", "max_hours"])
def test_missing_required_field_is_422_naming_it(api_key, missing):
    data = body()
    del data[missing]
    response = post_json(api_client(api_key), URL, data)
    assert response.status_code == 422
    assert _error(response)["field"] == missing


def test_a_future_deadline_and_a_public_https_callback_are_accepted(api_key):
    deadline = (timezone.now() + timedelta(hours=3)).isoformat()
    response = post_json(
        api_client(api_key),
        URL,
        body(deadline=deadline, callback_url="https://93.184.215.14/hooks/inloop"),
    )
    assert response.status_code == 201, response.json()
    stored = ReviewRequest.objects.get(pk=response.json()["id"])
    assert stored.callback_url == "https://93.184.215.14/hooks/inloop"
    assert stored.deadline is not None


def test_localhost_http_callback_is_allowed_only_with_debug(api_key, settings):
    settings.DEBUG = True
    response = post_json(api_client(api_key), URL, body(callback_url="http://127.0.0.1:8123/hook"))
    assert response.status_code == 201, response.json()


def test_metadata_just_under_16_kib_is_accepted(api_key):
    blob = "x" * (16 * 1024 - len('{"blob":""}'))
    response = post_json(api_client(api_key), URL, body(metadata={"blob": blob}))
    assert response.status_code == 201
    assert response.json()["metadata"] == {"blob": blob}


def test_a_company_member_session_can_create_with_csrf(company_member, organization):
    client = login_client(company_member)
    response = post_json(client, URL, body())
    assert response.status_code == 201
    stored = ReviewRequest.objects.get(pk=response.json()["id"])
    assert stored.created_by_user == company_member
    assert stored.organization == organization


def test_a_session_without_csrf_token_is_refused(company_member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(company_member)
    response = post_json(client, URL, body())
    assert response.status_code == 403
    assert "error" in response.json()
    assert not ReviewRequest.objects.exists()


def test_anonymous_is_401(client):
    response = post_json(client, URL, body())
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthorized"


def test_wrong_or_revoked_key_is_401(api_key, organization, company_member):
    from marketplace.models import ApiKey
    from marketplace.services import api_key_revoke

    assert post_json(api_client("inl_wrong"), URL, body()).status_code == 401
    api_key_revoke(api_key=ApiKey.objects.get(organization=organization), actor=company_member)
    response = post_json(api_client(api_key), URL, body())
    assert response.status_code == 401
    assert not ReviewRequest.objects.exists()


def test_expert_session_cannot_use_company_endpoints(expert):
    client = login_client(expert)
    assert post_json(client, URL, body()).status_code in (401, 403)
    assert client.get(URL).status_code in (401, 403)
    assert not ReviewRequest.objects.exists()


def test_malformed_json_is_400_in_the_envelope(api_key):
    response = post_json(api_client(api_key), URL, '{"title": "x",')
    assert response.status_code == 400
    assert _error(response)["code"] in ("malformed_json", "bad_request")


def test_body_over_1_mib_is_413(api_key):
    huge = body(content={"type": "text", "body": "x" * (1024 * 1024 + 10)})
    response = post_json(api_client(api_key), URL, huge)
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"
    assert not ReviewRequest.objects.exists()


def test_wrong_method_is_405_in_the_envelope(api_key):
    response = api_client(api_key).delete(URL)
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


def test_unknown_api_path_is_404_in_the_envelope(api_key):
    response = api_client(api_key).get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_rate_limit_is_429_with_retry_after(api_key, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    client = api_client(api_key)
    statuses = [client.get(URL).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    response = client.get(URL)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert _error(response)["code"] == "rate_limited"
    cache.clear()


def test_create_answers_json_content_type(api_key):
    response = post_json(api_client(api_key), URL, body())
    assert response["Content-Type"].startswith("application/json")
    json.loads(response.content)
