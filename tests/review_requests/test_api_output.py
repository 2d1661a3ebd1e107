"""API responses go out through their declared schemas: ninja validates what every endpoint
returns (an answer that breaks its schema is a 500 in the envelope, never sent), and no API
module builds its own HttpResponse."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import inloop_site.api  # noqa: F401 - mounts the routers
from review_requests import api as review_requests_api
from tests.factories import ReviewRequestFactory
from tests.review_requests.api_offers_support import api_client, body

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/review-requests"


def _broken(serialize):
    def serializer(*args, **kwargs):
        return {**serialize(*args, **kwargs), "status": "lost"}  # not a status of the contract

    return serializer


def test_an_answer_that_breaks_its_schema_is_a_500_not_sent(api_key, organization, monkeypatch):
    rr = ReviewRequestFactory(organization=organization)
    monkeypatch.setattr(
        review_requests_api.selectors,
        "review_request_api_object",
        _broken(review_requests_api.selectors.review_request_api_object),
    )
    response = api_client(api_key).get(f"{URL}/{rr.pk}")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "server_error",
            "message": "Something went wrong on our side.",
            "field": None,
        }
    }
    assert b"lost" not in response.content


def test_a_list_page_that_breaks_its_schema_is_a_500(api_key, organization, monkeypatch):
    ReviewRequestFactory(organization=organization)
    serialize = review_requests_api.review_requests_to_api_rows
    monkeypatch.setattr(
        review_requests_api,
        "review_requests_to_api_rows",
        lambda queryset: [{**row, "assignments": None} for row in serialize(queryset)],
    )
    assert api_client(api_key).get(URL).status_code == 500


def test_fields_beyond_the_schema_still_go_out(api_key, organization):
    rr = ReviewRequestFactory(organization=organization, metadata={"k": "v"})
    got = api_client(api_key).get(f"{URL}/{rr.pk}").json()
    # waiting_for_funds and the others are declared; the serializer's object goes out whole.
    assert got["metadata"] == {"k": "v"}
    assert got["result"] is None
    assert got["max_hours"] == float(rr.max_hours)


def test_a_replayed_create_is_validated_and_marked(api_key):
    client = api_client(api_key)
    data = json.dumps(body())
    first = client.post(URL, data, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    again = client.post(URL, data, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")


API_MODULES = sorted(
    path.relative_to(ROOT).as_posix()
    for path in ROOT.glob("*/api.py")
    if path.parent.name not in (".venv", "clients")
)


def test_the_api_modules_are_found():
    assert {"billing/api.py", "experts/api.py", "review_requests/api.py"} <= set(API_MODULES)


@pytest.mark.parametrize("module", API_MODULES)
def test_no_endpoint_builds_its_own_response(module):
    """A returned HttpResponse skips ninja's validation of the answer; errors come from
    marketplace.errors.error_response through the exception handlers."""
    tree = ast.parse((ROOT / module).read_text())
    built = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None))
        in ("JsonResponse", "HttpResponse", "StreamingHttpResponse")
    ]
    assert built == [], f"{module} builds a response at lines {built}"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"status": "done"},
            "status: must be one of queued, in_review, completed, cancelled, expired, disputed, "
            "auto_approved.",
        ),
        ({"cursor": "garbage!!"}, "cursor: not a cursor this API returned."),
        ({"cursor": "W10"}, "cursor: not a cursor this API returned."),  # base64 of []
    ],
)
def test_list_filters_are_refused_by_the_schema_in_the_envelope(api_key, params, message):
    response = api_client(api_key).get(URL, params)
    assert response.status_code == 422
    field = next(iter(params))
    assert response.json() == {
        "error": {"code": "validation_error", "message": message, "field": field}
    }


def test_an_empty_status_filter_lists_everything(api_key, organization):
    ReviewRequestFactory(organization=organization)
    response = api_client(api_key).get(URL, {"status": ""})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1
