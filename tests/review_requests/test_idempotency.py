"""Idempotency-Key on create and batch: replay, conflict, scope, expiry, and exactly one object
under concurrent requests with the same new key (PostgreSQL)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from review_requests.idempotency import idempotency_prune
from review_requests.models import IdempotencyRecord, ReviewRequest
from tests.conftest import run_at_once
from tests.review_requests.api_offers_support import api_client, body, post_json

URL = "/api/v1/review-requests"


def _post(client, data, key, path=URL):
    return post_json(client, path, data, HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_key_same_body_replays_the_first_response(api_key):
    client = api_client(api_key)
    first = _post(client, body(), "key-1")
    second = _post(client, body(), "key-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert ReviewRequest.objects.count() == 1


@pytest.mark.django_db
def test_key_order_and_whitespace_do_not_change_the_body(api_key):
    client = api_client(api_key)
    data = body()
    first = _post(client, data, "key-ws")
    reordered = json.dumps(dict(reversed(list(data.items()))), indent=2)
    second = _post(client, reordered, "key-ws")
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]


@pytest.mark.django_db
def test_same_key_different_body_is_409(api_key):
    client = api_client(api_key)
    _post(client, body(), "key-2")
    response = _post(client, body(title="Something else"), "key-2")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert ReviewRequest.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_organization_and_per_endpoint(api_key, other_api_key):
    a = _post(api_client(api_key), body(), "shared")
    b = _post(api_client(other_api_key), body(), "shared")
    c = _post(api_client(api_key), {"requests": [body()]}, "shared", path=f"{URL}/batch")
    assert a.json()["id"] != b.json()["id"]
    assert c.status_code == 201
    assert ReviewRequest.objects.count() == 3


@pytest.mark.django_db
def test_batch_replay_returns_the_same_ids(api_key):
    client = api_client(api_key)
    payload = {"requests": [body(title="a"), body(title="b")]}
    first = _post(client, payload, "batch-1", path=f"{URL}/batch")
    second = _post(client, payload, "batch-1", path=f"{URL}/batch")
    assert [d["id"] for d in first.json()["data"]] == [d["id"] for d in second.json()["data"]]
    assert ReviewRequest.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_create_does_not_burn_the_key(api_key):
    client = api_client(api_key)
    bad = _post(client, body(specialization="nope.nope"), "key-3")
    assert bad.status_code == 422
    assert not IdempotencyRecord.objects.exists()
    good = _post(client, body(), "key-3")
    assert good.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256])
def test_key_length_is_1_to_255(api_key, key):
    response = _post(api_client(api_key), body(), key)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert not ReviewRequest.objects.exists()


@pytest.mark.django_db
def test_a_key_older_than_24_hours_creates_a_new_object(api_key):
    client = api_client(api_key)
    first = _post(client, body(), "old-key")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    second = _post(client, body(title="new"), "old-key")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


@pytest.mark.django_db
def test_prune_forgets_records_older_than_24_hours(api_key):
    client = api_client(api_key)
    _post(client, body(), "fresh")
    _post(client, body(), "stale")
    IdempotencyRecord.objects.filter(key="stale").update(
        created_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    assert idempotency_prune() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_new_key_create_exactly_one(api_key):
    threads_count = 8
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker():
        response = _post(api_client(api_key), body(), "race-key")
        with lock:
            results.append((response.status_code, response.json().get("id")))

    run_at_once(worker, threads=threads_count)
    assert len(results) == threads_count
    assert {status for status, _ in results} == {201}
    assert len({rid for _, rid in results}) == 1
    assert ReviewRequest.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
