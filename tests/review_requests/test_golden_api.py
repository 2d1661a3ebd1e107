"""The golden-items API (docs/contract/golden.md): a company lists its own pool, newest first
with a cursor, and marks a completed request of its own as a golden item, once; 409 when the
request is not completed or already golden, 404 for another organization's, nothing created on
a refusal."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from experts.models import GoldenItem
from tests.conftest import login_client, run_at_once
from tests.factories import GoldenItemFactory, ReviewRequestFactory

pytestmark = pytest.mark.django_db

RESULT = {"verdict": "rejected", "scores": {"accuracy": 2, "clarity": 3.5, "flag": True}}


@pytest.fixture
def api(api_key) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key}"})


def _done(organization, **fields):
    fields.setdefault("status", "completed")
    fields.setdefault("result", RESULT)
    return ReviewRequestFactory(organization=organization, **fields)


def _mark(client: Client, rr_id, body: dict | None = None):
    return client.post(
        f"/api/v1/review-requests/{rr_id}/golden", body or {}, content_type="application/json"
    )


def test_marking_a_completed_request_makes_a_golden_item_of_its_result(api, organization):
    rr = _done(organization, title="Termination clause")
    response = _mark(api, rr.pk, {"tolerance": 1})
    assert response.status_code == 201, response.content
    data = response.json()
    item = GoldenItem.objects.get(source_review_request_id=rr.pk)
    assert data == {
        "id": str(item.pk),
        "specialization": rr.specialization.slug,
        "title": "Termination clause",
        "content": rr.content,
        "prompt": rr.prompt,
        "guidelines": rr.guidelines,
        "rubric": rr.rubric,
        "max_hours": float(rr.max_hours),
        "expected_verdict": "rejected",
        "expected_scores": {"accuracy": 2, "clarity": 3.5},  # numbers only
        "tolerance": 1.0,
        "source_review_request_id": str(rr.pk),
        "active": True,
        "created_at": item.created_at.isoformat(),
    }
    assert item.organization == organization and item.created_by is None  # an API key


def test_the_body_is_optional(api, organization):
    rr = _done(organization)
    response = api.post(f"/api/v1/review-requests/{rr.pk}/golden", content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["tolerance"] == 0.0


def test_a_second_mark_is_409_and_creates_nothing(api, organization):
    rr = _done(organization)
    assert _mark(api, rr.pk).status_code == 201
    again = _mark(api, rr.pk)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_golden"
    assert GoldenItem.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"status": "queued", "result": None}, "not_completed"),
        ({"status": "in_review", "result": None}, "not_completed"),
        ({"status": "disputed"}, "not_completed"),
        ({"result": {"verdict": "compared", "scores": {}}}, "no_verdict"),
    ],
)
def test_only_a_completed_request_with_a_verdict_can_be_marked(api, organization, fields, code):
    rr = _done(organization, **fields)
    response = _mark(api, rr.pk)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert not GoldenItem.objects.exists()


def test_another_organizations_request_is_a_404(api, other_organization):
    rr = _done(other_organization)
    assert _mark(api, rr.pk).status_code == 404
    assert _mark(api, uuid.uuid4()).status_code == 404
    assert _mark(api, "not-a-uuid").status_code == 404
    assert not GoldenItem.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tolerance": -1}, "tolerance"),
        ({"tolerance": 10.5}, "tolerance"),
        ({"tolerance": "lots"}, "tolerance"),
        ({"tolerence": 1}, "tolerence"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_creates_nothing(api, organization, body, field):
    rr = _done(organization)
    response = _mark(api, rr.pk, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert not GoldenItem.objects.exists()


def test_a_session_must_be_an_owners_or_admins(company_member, plain_member, organization):
    rr = _done(organization)
    assert _mark(login_client(plain_member), rr.pk).status_code == 403
    assert not GoldenItem.objects.exists()
    response = _mark(login_client(company_member), rr.pk)
    assert response.status_code == 201
    assert GoldenItem.objects.get().created_by == company_member


def test_anonymous_is_401_and_a_wrong_method_405(api, organization):
    rr = _done(organization)
    assert _mark(Client(), rr.pk).status_code == 401
    assert Client().get("/api/v1/golden-items").status_code == 401
    assert api.get(f"/api/v1/review-requests/{rr.pk}/golden").status_code == 405
    assert api.post("/api/v1/golden-items").status_code == 405


def test_the_list_is_our_pool_newest_first_with_a_cursor(api, organization, other_organization):
    now = timezone.now()
    made = [
        GoldenItemFactory(organization=organization, created_at=now - timedelta(minutes=n))
        for n in range(3)
    ]
    GoldenItemFactory(organization=other_organization)
    GoldenItemFactory()  # the platform's: not in a company's pool
    page = api.get("/api/v1/golden-items?limit=2").json()
    assert [i["id"] for i in page["data"]] == [str(made[0].pk), str(made[1].pk)]
    rest = api.get(f"/api/v1/golden-items?limit=2&cursor={page['next_cursor']}").json()
    assert [i["id"] for i in rest["data"]] == [str(made[2].pk)] and rest["next_cursor"] is None
    response = api.get("/api/v1/golden-items?cursor=nope")
    assert response.status_code == 422 and response.json()["error"]["field"] == "cursor"
    assert api.get("/api/v1/golden-items?limit=101").status_code == 422


def test_items_made_at_the_same_moment_are_all_listed_once(api, organization):
    moment = timezone.now()
    made = {str(GoldenItemFactory(organization=organization, created_at=moment).pk) for _ in "abc"}
    seen, cursor = [], None
    while True:
        url = "/api/v1/golden-items?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url).json()
        seen += [i["id"] for i in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)


def test_the_list_takes_a_fixed_number_of_queries(api, organization, django_assert_max_num_queries):
    for _ in range(5):
        GoldenItemFactory(organization=organization)
    # The key, its rate-limit counter and last use, the items with their specializations.
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/golden-items").json()["data"]) == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_marks_at_once_make_one_item(api, organization):
    rr = _done(organization)
    statuses: list[int] = []

    def mark() -> None:
        statuses.append(_mark(api, rr.pk).status_code)

    run_at_once(mark, threads=2)
    assert sorted(statuses) == [201, 409]
    assert GoldenItem.objects.filter(source_review_request_id=rr.pk).count() == 1
