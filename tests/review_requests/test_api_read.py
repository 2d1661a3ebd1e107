"""GET one, GET list (status filter, limit, opaque cursor, newest first), cancel, batch, and
tenant isolation: no key, session or guessed id reads another organization's request."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from review_requests.models import ReviewRequest
from tests.conftest import login_client
from tests.factories import AssignmentFactory, CreditGrantFactory, ReviewRequestFactory
from tests.review_requests.api_offers_support import api_client, body, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/review-requests"


def _ids(response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


def _requests(organization, count: int) -> list[ReviewRequest]:
    base = timezone.now() - timedelta(hours=1)
    made = [
        ReviewRequestFactory(
            organization=organization, title=f"r{i}", created_at=base + timedelta(seconds=i)
        )
        for i in range(count)
    ]
    return made


def test_get_one_returns_the_object(api_key, organization):
    rr = ReviewRequestFactory(organization=organization, metadata={"k": "v"})
    response = api_client(api_key).get(f"{URL}/{rr.pk}")
    assert response.status_code == 200
    assert response.json()["id"] == str(rr.pk)
    assert response.json()["metadata"] == {"k": "v"}


def test_get_unknown_or_malformed_id_is_404(api_key):
    client = api_client(api_key)
    assert client.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 404
    response = client.get(f"{URL}/not-a-uuid")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_is_newest_first_with_a_cursor_that_walks_every_page(api_key, organization):
    made = _requests(organization, 7)
    client = api_client(api_key)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = client.get(URL, params)
        assert response.status_code == 200
        seen += _ids(response)
        cursor = response.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(rr.pk) for rr in reversed(made)]


def test_cursor_breaks_ties_on_equal_created_at_by_id(api_key, organization):
    moment = timezone.now() - timedelta(minutes=5)
    made = [
        ReviewRequestFactory(organization=organization, title=f"same{i}", created_at=moment)
        for i in range(5)
    ]
    client = api_client(api_key)
    first = client.get(URL, {"limit": 2})
    rest = client.get(URL, {"limit": 10, "cursor": first.json()["next_cursor"]})
    together = _ids(first) + _ids(rest)
    assert sorted(together) == sorted(str(rr.pk) for rr in made)
    assert len(set(together)) == 5


def test_list_filters_by_status(api_key, organization):
    queued = ReviewRequestFactory(organization=organization)
    ReviewRequestFactory(organization=organization, status="cancelled")
    response = api_client(api_key).get(URL, {"status": "queued"})
    assert _ids(response) == [str(queued.pk)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "done"}, "status"),
        ({"cursor": "garbage!!"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_422_naming_them(api_key, params, field):
    response = api_client(api_key).get(URL, params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_default_limit_is_20(api_key, organization):
    _requests(organization, 25)
    response = api_client(api_key).get(URL)
    assert len(response.json()["data"]) == 20
    assert response.json()["next_cursor"]


def test_list_page_of_100_takes_a_constant_number_of_queries(api_key, organization):
    from experts.models import Specialization
    from tests.review_requests.api_offers_support import radiologist

    made = _requests(organization, 30)
    for rr in made[:5]:
        AssignmentFactory(review_request=rr, expert=radiologist(), held=False)
    assert Specialization.objects.exists()
    client = api_client(api_key)
    client.get(URL, {"limit": 1})  # warm the key's rate-limit bucket
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, {"limit": 100})
    data = response.json()["data"]
    assert len(data) == 30
    with_assignments = {item["id"] for item in data if item["assignments"]}
    assert with_assignments == {str(rr.pk) for rr in made[:5]}
    assert data[-1]["assignments"][0]["expert"]["display_name"]
    # api key + last_used, the page (with specialization), assignments+experts prefetch.
    assert len(ctx.captured_queries) <= 6, [q["sql"] for q in ctx.captured_queries]


def test_list_rows_are_the_same_objects_as_the_contract_serializer(api_key, organization):
    from review_requests.serializers import review_request_to_api
    from tests.review_requests.api_offers_support import radiologist

    made = _requests(organization, 3)
    made[0].metadata = {"pipeline": "nightly", "n": [1, 2]}
    made[0].deadline = timezone.now() + timedelta(days=2)
    made[0].result = {"verdict": "approved", "scores": {"accuracy": 4}}
    made[0].save(update_fields=["metadata", "deadline", "result"])
    for offset in (2, 1):
        AssignmentFactory(
            review_request=made[0],
            expert=radiologist(),
            held=False,
            billed_seconds=60 * offset,
            accepted_at=timezone.now() - timedelta(minutes=offset),
        )
    listed = api_client(api_key).get(URL, {"limit": 100}).json()["data"]
    expected = [
        review_request_to_api(
            ReviewRequest.objects.prefetch_related("assignments__expert").get(pk=rr.pk)
        )
        for rr in reversed(made)
    ]
    assert listed == json.loads(json.dumps(expected, cls=DjangoJSONEncoder))
    assert [a["billed_seconds"] for a in listed[-1]["assignments"]] == [120, 60]
    # The get endpoint gives the same objects, with and without assignments.
    client = api_client(api_key)
    assert client.get(f"{URL}/{made[0].pk}").json() == listed[-1]
    assert client.get(f"{URL}/{made[1].pk}").json() == listed[-2]
    assert listed[-2]["assignments"] == []


def test_get_one_reads_the_request_and_its_assignments_in_two_queries(api_key, organization):
    from tests.review_requests.api_offers_support import radiologist

    rr = ReviewRequestFactory(organization=organization)
    for offset in (1, 2):
        AssignmentFactory(
            review_request=rr,
            expert=radiologist(),
            held=False,
            accepted_at=timezone.now() - timedelta(minutes=offset),
        )
    client = api_client(api_key)
    client.get(f"{URL}/{rr.pk}")  # the key's last use is written on the first call
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{URL}/{rr.pk}")
    assert len(response.json()["assignments"]) == 2
    reads = [q["sql"] for q in ctx.captured_queries if "review_requests_" in q["sql"]]
    # The request with its specialization; its assignments with their experts.
    assert len(reads) == 2, reads


def test_list_never_shows_another_organizations_requests(
    api_key, other_api_key, organization, other_organization
):
    mine = ReviewRequestFactory(organization=organization)
    theirs = ReviewRequestFactory(organization=other_organization)
    assert _ids(api_client(api_key).get(URL)) == [str(mine.pk)]
    assert _ids(api_client(other_api_key).get(URL)) == [str(theirs.pk)]


def test_another_organizations_request_is_404_for_get_and_cancel(api_key, other_organization):
    theirs = ReviewRequestFactory(organization=other_organization)
    client = api_client(api_key)
    assert client.get(f"{URL}/{theirs.pk}").status_code == 404
    assert client.post(f"{URL}/{theirs.pk}/cancel").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "queued"


def test_session_of_another_company_is_404(other_company_member, organization):
    mine = ReviewRequestFactory(organization=organization)
    client = login_client(other_company_member)
    assert client.get(f"{URL}/{mine.pk}").status_code == 404
    assert client.post(f"{URL}/{mine.pk}/cancel").status_code == 404
    assert _ids(client.get(URL)) == []


def test_company_member_session_reads_own_requests(plain_member, organization):
    mine = ReviewRequestFactory(organization=organization)
    client = login_client(plain_member)
    assert client.get(f"{URL}/{mine.pk}").json()["id"] == str(mine.pk)


def test_expert_session_on_company_endpoints_is_refused(expert, organization):
    rr = ReviewRequestFactory(organization=organization)
    client = login_client(expert)
    assert client.get(f"{URL}/{rr.pk}").status_code in (401, 403)
    assert client.post(f"{URL}/{rr.pk}/cancel").status_code in (401, 403)


def test_anonymous_reads_are_401(client, organization):
    rr = ReviewRequestFactory(organization=organization)
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}/{rr.pk}").status_code == 401


def test_cancel_a_queued_request(api_key, organization):
    rr = ReviewRequestFactory(organization=organization, callback_url="https://93.184.215.14/hook")
    response = api_client(api_key).post(f"{URL}/{rr.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    rr.refresh_from_db()
    assert rr.status == "cancelled"
    assert rr.webhook_events.get().type == "review_request.cancelled"


def test_cancel_twice_is_409(api_key, organization):
    rr = ReviewRequestFactory(organization=organization)
    client = api_client(api_key)
    client.post(f"{URL}/{rr.pk}/cancel")
    response = client.post(f"{URL}/{rr.pk}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_cancellable"


def test_cancel_wrong_method_is_405(api_key, organization):
    rr = ReviewRequestFactory(organization=organization)
    assert api_client(api_key).get(f"{URL}/{rr.pk}/cancel").status_code == 405


def test_balance_is_scoped_to_the_caller(api_key, other_api_key, organization):

    CreditGrantFactory(organization=organization, amount_cents=5_000)
    assert api_client(api_key).get("/api/v1/balance").json()["available_cents"] == 5_000
    assert api_client(other_api_key).get("/api/v1/balance").json()["available_cents"] == 0


# Batch -------------------------------------------------------------------------------------


def test_batch_creates_all_in_order(api_key, organization):
    items = [body(title=f"item {i}") for i in range(5)]
    response = post_json(api_client(api_key), f"{URL}/batch", {"requests": items})
    assert response.status_code == 201
    data = response.json()["data"]
    assert [d["title"] for d in data] == [f"item {i}" for i in range(5)]
    assert ReviewRequest.objects.filter(organization=organization).count() == 5


def test_batch_is_all_or_nothing(api_key):
    items = [body(), body(specialization="nope.nothing"), body()]
    response = post_json(api_client(api_key), f"{URL}/batch", {"requests": items})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "requests[1].specialization"
    assert not ReviewRequest.objects.exists()


def test_batch_field_errors_name_the_item(api_key):
    items = [body(), body(max_hours=100)]
    response = post_json(api_client(api_key), f"{URL}/batch", {"requests": items})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "requests[1].max_hours"
    assert not ReviewRequest.objects.exists()


@pytest.mark.parametrize("count", [0, 101])
def test_batch_size_is_1_to_100(api_key, count):
    response = post_json(api_client(api_key), f"{URL}/batch", {"requests": [body()] * count})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "requests"
    assert not ReviewRequest.objects.exists()


def test_batch_runs_one_matching_pass_after_commit(api_key, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_json(
            api_client(api_key), f"{URL}/batch", {"requests": [body() for _ in range(3)]}
        )
    assert response.status_code == 201
    assert len(callbacks) == 1


@pytest.fixture
def database_task_backend(settings):
    from django_tasks import task_backends

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    task_backends._settings = None  # re-read TASKS
    yield
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    task_backends._settings = None


def test_with_the_database_task_backend_matching_is_queued_in_the_create_transaction(
    api_key, database_task_backend
):
    from django_tasks_db.models import DBTaskResult

    response = post_json(api_client(api_key), URL, body())
    assert response.status_code == 201
    queued = DBTaskResult.objects.get(task_path="review_requests.tasks.matching_run_task")
    assert queued.args_kwargs["args"] == [[response.json()["id"]]]
    bad = post_json(api_client(api_key), URL, body(specialization="nope.nope"))
    assert bad.status_code == 422
    assert DBTaskResult.objects.count() == 1
