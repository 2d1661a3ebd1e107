"""The hand-built SQL of the API's hot path (marketplace/rawsql.py) gives what the ORM gives:
the same instances from a select, the same rows from an insert, one round trip on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace import rawsql, services
from marketplace.models import ApiKey, Organization, User
from review_requests.models import RequestStatusChange, ReviewRequest

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_fetch_instances_converts_every_column_as_the_orm_does(api_key):
    table_k, table_o = ApiKey._meta.db_table, Organization._meta.db_table
    sql = (
        f"SELECT {rawsql.select_columns(ApiKey, 'k')}, {rawsql.select_columns(Organization, 'o')}"
        f' FROM "{table_k}" k JOIN "{table_o}" o ON o."id" = k."organization_id"'
    )
    ApiKey.objects.update(last_used_at=timezone.now())
    [(key, organization)] = rawsql.fetch_instances(sql, [], ApiKey, Organization)
    orm = ApiKey.objects.select_related("organization").get()
    assert _fields(key) == _fields(orm)
    assert _fields(organization) == _fields(orm.organization)
    assert key._state.adding is False


def test_the_key_lookup_follows_revocation_suspension_and_deleted_creators(
    company_member, api_key, operator
):
    assert services.api_key_authenticate(raw_key=api_key).organization.name == "Acme AI"
    User.objects.filter(pk=company_member.pk).update(suspended_at=timezone.now())
    assert services.api_key_authenticate(raw_key=api_key) is None
    # A key outlives a creator who was deleted (created_by is set to NULL).
    User.objects.filter(pk=company_member.pk).update(suspended_at=None)
    ApiKey.objects.update(created_by=None)
    assert services.api_key_authenticate(raw_key=api_key) is not None
    ApiKey.objects.update(revoked_at=timezone.now())
    assert services.api_key_authenticate(raw_key=api_key) is None
    assert services.api_key_authenticate(raw_key=api_key + "x") is None


def _request(organization, n: int) -> ReviewRequest:
    from experts.models import Specialization

    return ReviewRequest(
        organization=organization,
        title=f"Request {n}",
        specialization=Specialization.objects.get(slug="medicine.radiology"),
        content_type="json",
        content={"type": "json", "body": '{"a": 1}'},
        rubric=[{"name": "accuracy", "scale": 5}],
        max_hours=Decimal("1.50"),
        metadata={"n": n, "nested": {"ok": True}},
    )


def test_insert_instances_writes_what_save_would(organization):
    mine = [_request(organization, n) for n in range(3)]
    history = [
        RequestStatusChange(review_request=rr, to_status="queued", reason="created") for rr in mine
    ]
    reference = _request(organization, 99)
    reference.save()
    with CaptureQueriesContext(connection) as queries:
        rawsql.insert_instances([*mine, *history])
    # Several rows per model: one executemany per model (psycopg pipelines each).
    assert [q["sql"].split(" INSERT INTO ")[0] for q in queries if "INSERT" in q["sql"]] == [
        "3 times:",
        "3 times:",
    ]
    for rr in mine:
        stored = ReviewRequest.objects.get(pk=rr.pk)
        assert _fields(stored) == _fields(rr)
        assert rr._state.adding is False
    assert {k: v for k, v in _fields(stored).items() if k not in ("id", "title", "metadata")} == {
        k: v
        for k, v in _fields(ReviewRequest.objects.get(pk=reference.pk)).items()
        if k not in ("id", "title", "metadata", "created_at", "updated_at")
    } | {"created_at": stored.created_at, "updated_at": stored.updated_at}
    assert list(
        RequestStatusChange.objects.filter(review_request__in=mine).values_list(
            "review_request__title", "to_status"
        )
    ) == [(f"Request {n}", "queued") for n in range(3)]


def test_one_row_per_model_is_one_query_on_postgresql(organization):
    rr = _request(organization, 1)
    history = RequestStatusChange(review_request=rr, to_status="queued")
    with CaptureQueriesContext(connection) as queries:
        rawsql.insert_instances([rr, history])
    inserts = [q["sql"] for q in queries if "INSERT" in q["sql"]]
    if connection.vendor == "postgresql":
        assert len(queries) == 1  # no BEGIN, no COMMIT: the query string is its own transaction
        assert len(inserts) == 1
    else:
        assert len(inserts) == 2
    assert RequestStatusChange.objects.get().review_request == ReviewRequest.objects.get()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("requests", [1, 3])  # one query string / executemany in atomic()
def test_a_failing_statement_inserts_nothing_outside_a_transaction(organization, requests):
    """Real commits (no test transaction around it): the requests' INSERT succeeds on its own,
    the history row's fails, and nothing is kept."""
    good = [_request(organization, n) for n in range(requests)]
    bad_history = RequestStatusChange(review_request=good[0], to_status=None)
    with pytest.raises(IntegrityError):
        rawsql.insert_instances([*good, bad_history])
    assert not ReviewRequest.objects.exists()
    assert good[0]._state.adding is True
