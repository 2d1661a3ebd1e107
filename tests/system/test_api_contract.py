"""contract/API.md's company surface, against the running processes over HTTP only: what a
pipeline sends and what it gets back, errors included."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from tests.system.flows import company_owner, new_api_key, request_body, revoke_api_key

REQUEST_FIELDS = {
    "id",
    "status",
    "title",
    "specialization",
    "created_at",
    "deadline",
    "reviewers",
    "max_hours",
    "metadata",
    "assignments",
    "result",
    "cost_cents",
    "currency",
}


def _marker() -> str:
    return uuid.uuid4().hex


def _all_requests(client: httpx.Client, **params) -> list[dict]:
    """Every request of the organization, page by page through next_cursor."""
    found, cursor = [], None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/review-requests", params=query)
        assert page.status_code == 200, page.text
        found += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


def _with_marker(client: httpx.Client, marker: str) -> list[dict]:
    return [rr for rr in _all_requests(client) if (rr["metadata"] or {}).get("m") == marker]


def _assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    if code:
        assert error["code"] == code, error
    return error


# Create, read, list -------------------------------------------------------------------------


def test_create_answers_201_with_every_field_of_the_request_object(system):
    body = request_body(metadata={"pipeline": "nightly", "n": 3}, reviewers=2, max_hours=1.5)
    with system.api() as client:
        response = client.post("/api/v1/review-requests", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) >= REQUEST_FIELDS
    assert created["status"] == "queued"
    assert created["title"] == body["title"]
    assert created["specialization"] == "law.contracts"
    assert datetime.fromisoformat(created["created_at"]).tzinfo is not None
    assert created["deadline"] is None
    assert (created["reviewers"], created["max_hours"]) == (2, 1.5)
    assert created["metadata"] == {"pipeline": "nightly", "n": 3}
    assert created["assignments"] == [] and created["result"] is None
    assert (created["cost_cents"], created["currency"]) == (0, "usd")


def test_a_created_request_is_read_back_by_id_and_an_unknown_id_is_404(system):
    with system.api() as client:
        created = client.post("/api/v1/review-requests", json=request_body()).json()
        fetched = client.get(f"/api/v1/review-requests/{created['id']}")
        unknown = client.get(f"/api/v1/review-requests/{uuid.uuid4()}")
        garbage = client.get("/api/v1/review-requests/not-an-id")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == created["id"]
    assert set(fetched.json()) >= REQUEST_FIELDS
    _assert_envelope(unknown, 404, "not_found")
    _assert_envelope(garbage, 404, "not_found")


def test_the_list_pages_newest_first_through_next_cursor_without_repeats_or_gaps(system):
    marker = _marker()
    with system.api() as client:
        made = [
            client.post(
                "/api/v1/review-requests",
                json=request_body(title=f"page {i}", metadata={"m": marker}),
            ).json()["id"]
            for i in range(5)
        ]
        pages, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/review-requests", params=params)
            assert page.status_code == 200, page.text
            assert len(page.json()["data"]) <= 2
            pages.append(page.json()["data"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        bad_cursor = client.get("/api/v1/review-requests", params={"cursor": "nonsense"})
        queued = client.get("/api/v1/review-requests", params={"status": "queued", "limit": 100})
    listed = [rr for page in pages for rr in page]
    ids = [rr["id"] for rr in listed]
    assert len(ids) == len(set(ids)), "a request came twice"
    mine = [i for i in ids if i in made]
    assert mine == list(reversed(made)), "newest first, every one of them"
    stamps = [(rr["created_at"], rr["id"]) for rr in listed]
    assert [s[0] for s in stamps] == sorted((s[0] for s in stamps), reverse=True)
    assert bad_cursor.status_code in (400, 422), bad_cursor.text
    assert queued.status_code == 200
    assert {rr["status"] for rr in queued.json()["data"]} <= {"queued"}


# Batch -------------------------------------------------------------------------------------


def test_a_batch_creates_every_request_in_one_call(system):
    marker = _marker()
    bodies = [request_body(title=f"batch {i}", metadata={"m": marker}) for i in range(3)]
    with system.api() as client:
        response = client.post("/api/v1/review-requests/batch", json={"requests": bodies})
        assert response.status_code == 201, response.text
        stored = _with_marker(client, marker)
    data = response.json()["data"]
    assert [rr["title"] for rr in data] == ["batch 0", "batch 1", "batch 2"]
    assert all(set(rr) >= REQUEST_FIELDS for rr in data)
    assert {rr["id"] for rr in stored} == {rr["id"] for rr in data}


def test_a_batch_with_one_invalid_item_names_it_and_creates_nothing(system):
    marker = _marker()
    bodies = [
        request_body(metadata={"m": marker}),
        request_body(metadata={"m": marker}, specialization="no.such.thing"),
        request_body(metadata={"m": marker}),
    ]
    with system.api() as client:
        response = client.post("/api/v1/review-requests/batch", json={"requests": bodies})
        stored = _with_marker(client, marker)
    error = _assert_envelope(response, 422)
    assert error["field"] == "requests[1].specialization"
    assert stored == []


def test_a_batch_over_100_is_refused_whole(system):
    marker = _marker()
    bodies = [request_body(metadata={"m": marker}) for _ in range(101)]
    with system.api() as client:
        response = client.post("/api/v1/review-requests/batch", json={"requests": bodies})
        stored = _with_marker(client, marker)
    _assert_envelope(response, 422)
    assert stored == []


# Cancel, specializations, balance -----------------------------------------------------------


def test_cancel_of_a_queued_request_returns_it_cancelled_and_a_second_cancel_is_409(system):
    with system.api() as client:
        created = client.post("/api/v1/review-requests", json=request_body()).json()
        cancelled = client.post(f"/api/v1/review-requests/{created['id']}/cancel")
        again = client.post(f"/api/v1/review-requests/{created['id']}/cancel")
        fetched = client.get(f"/api/v1/review-requests/{created['id']}").json()
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert fetched["status"] == "cancelled"
    _assert_envelope(again, 409, "not_cancellable")


def test_cancel_of_another_organizations_or_an_unknown_request_is_404(system):
    with system.api() as client:
        response = client.post(f"/api/v1/review-requests/{uuid.uuid4()}/cancel")
    _assert_envelope(response, 404)


def test_specializations_are_public_and_name_their_parent(system):
    with system.api(key="") as anonymous:
        response = anonymous.get("/api/v1/specializations")
    assert response.status_code == 200
    by_slug = {s["slug"]: s for s in response.json()["data"]}
    assert all(set(s) >= {"slug", "name", "parent"} for s in by_slug.values())
    assert by_slug["medicine.radiology"]["parent"] == "medicine"
    assert by_slug["medicine"]["parent"] is None


def test_balance_shows_the_seeded_credit_in_cents(system):
    with system.api() as client:
        response = client.get("/api/v1/balance")
    assert response.status_code == 200
    balance = response.json()
    assert set(balance) >= {"available_cents", "held_cents", "currency"}
    assert balance["currency"] == "usd"
    assert isinstance(balance["available_cents"], int) and isinstance(balance["held_cents"], int)
    assert balance["available_cents"] + balance["held_cents"] >= 1_000_000


# Idempotency -------------------------------------------------------------------------------


def test_an_idempotent_replay_returns_the_same_request_and_creates_nothing(system):
    marker, key = _marker(), f"idem-{_marker()}"
    body = request_body(metadata={"m": marker})
    # Key order and whitespace do not matter: the body is compared as canonical JSON.
    reordered = dict(reversed(list(body.items())))
    with system.api() as client:
        first = client.post("/api/v1/review-requests", json=body, headers={"Idempotency-Key": key})
        replay = client.post(
            "/api/v1/review-requests", json=reordered, headers={"Idempotency-Key": key}
        )
        stored = _with_marker(client, marker)
    assert first.status_code == 201, first.text
    assert replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert [rr["id"] for rr in stored] == [first.json()["id"]]


def test_the_same_idempotency_key_with_another_body_is_409_and_creates_nothing(system):
    marker, key = _marker(), f"idem-{_marker()}"
    with system.api() as client:
        first = client.post(
            "/api/v1/review-requests",
            json=request_body(metadata={"m": marker}),
            headers={"Idempotency-Key": key},
        )
        conflict = client.post(
            "/api/v1/review-requests",
            json=request_body(metadata={"m": marker}, title="Another title"),
            headers={"Idempotency-Key": key},
        )
        stored = _with_marker(client, marker)
    assert first.status_code == 201
    _assert_envelope(conflict, 409, "idempotency_conflict")
    assert len(stored) == 1


def test_a_batch_replay_returns_the_same_requests(system):
    marker, key = _marker(), f"idem-{_marker()}"
    payload = {"requests": [request_body(metadata={"m": marker}) for _ in range(2)]}
    with system.api() as client:
        first = client.post(
            "/api/v1/review-requests/batch", json=payload, headers={"Idempotency-Key": key}
        )
        replay = client.post(
            "/api/v1/review-requests/batch", json=payload, headers={"Idempotency-Key": key}
        )
        stored = _with_marker(client, marker)
    assert first.status_code == 201
    assert [rr["id"] for rr in replay.json()["data"]] == [rr["id"] for rr in first.json()["data"]]
    assert len(stored) == 2


# Authentication: every operation of the OpenAPI document, every bad key ---------------------


PUBLIC_OPERATIONS = {("get", "/api/v1/specializations")}


def _operations(system) -> list[tuple[str, str]]:
    with system.api(key="") as anonymous:
        document = anonymous.get("/api/v1/openapi.json").json()
    found = [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    # The contract's routes are all there: a renamed one would hide from this test.
    for expected in [
        ("post", "/api/v1/review-requests"),
        ("get", "/api/v1/review-requests"),
        ("post", "/api/v1/review-requests/batch"),
        ("get", "/api/v1/review-requests/{review_request_id}"),
        ("post", "/api/v1/review-requests/{review_request_id}/cancel"),
        ("get", "/api/v1/balance"),
        ("get", "/api/v1/me/offers"),
        ("post", "/api/v1/offers/{offer_id}/accept"),
        ("post", "/api/v1/offers/{offer_id}/decline"),
        ("get", "/api/v1/specializations"),
    ]:
        assert expected in found, expected
    return [op for op in found if op not in PUBLIC_OPERATIONS]


@pytest.fixture(scope="module")
def bad_keys(system) -> dict[str, str | None]:
    """A wrong key, a revoked one (made and revoked on the company's pages by its owner, and
    seen working first) and none at all."""
    owner_login = company_owner(system)
    owner = system.login(owner_login["email"], owner_login["password"])
    key, pk = new_api_key(system, owner)
    with system.api(key=key) as client:
        assert client.get("/api/v1/balance").status_code == 200
    revoke_api_key(system, owner, pk)
    owner.close()
    prefix = key.split("_")[0]
    return {"wrong": f"{prefix}_{uuid.uuid4().hex}", "revoked": key, "missing": ""}


@pytest.mark.parametrize("kind", ["wrong", "revoked", "missing"])
def test_every_operation_answers_401_to_a_bad_key(system, bad_keys, kind):
    """Also on unsafe methods: a bad key must not fall through to the session's CSRF check
    (403 csrf_failed on main before branch fix13)."""
    real_id = str(uuid.uuid4())
    answers = {}
    with system.api(key=bad_keys[kind]) as client:
        for method, path in _operations(system):
            url = path.replace("{review_request_id}", real_id).replace("{offer_id}", real_id)
            body = (
                {"requests": [request_body()]}
                if path.endswith("/batch")
                else request_body()
                if method == "post"
                else None
            )
            response = client.request(method.upper(), url, json=body)
            answers[f"{method.upper()} {path}"] = (
                response.status_code,
                response.json().get("error", {}).get("code"),
            )
    wrong = {op: answer for op, answer in answers.items() if answer[0] != 401}
    assert wrong == {}, f"not 401 with a {kind} key"


def test_a_revoked_key_creates_nothing(system, bad_keys):
    marker = _marker()
    with system.api(key=bad_keys["revoked"]) as revoked:
        revoked.post("/api/v1/review-requests", json=request_body(metadata={"m": marker}))
    with system.api() as client:
        assert _with_marker(client, marker) == []


# Input errors ------------------------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_413(system):
    body = request_body(content={"type": "text", "body": "x" * (1024 * 1024 + 1)})
    with system.api() as client:
        response = client.post("/api/v1/review-requests", json=body)
    _assert_envelope(response, 413)


def test_a_chunked_body_over_one_mebibyte_is_413(system):
    """Without Content-Length the size must still be counted (PITFALLS.md)."""
    chunk = b"x" * 65536

    def chunks():
        yield b'{"title": "big", "content": {"type": "text", "body": "'
        for _ in range(17):
            yield chunk
        yield b'"}}'

    with system.api() as client:
        response = client.post(
            "/api/v1/review-requests",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
    _assert_envelope(response, 413)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"specialization": "no.such"}, "specialization"),
        ({"content": {"type": "text", "body": ""}}, "content.body"),
        ({"max_hours": 41}, "max_hours"),
        ({"max_hours": 0.1}, "max_hours"),
        ({"reviewers": 6}, "reviewers"),
        ({"deadline": "2020-01-01T00:00:00+00:00"}, "deadline"),
        ({"callback_url": "ftp://example.com/hook"}, "callback_url"),
        ({"titel": "typo"}, "titel"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_creates_nothing(system, change, field):
    marker = _marker()
    with system.api() as client:
        response = client.post(
            "/api/v1/review-requests", json={**request_body(metadata={"m": marker}), **change}
        )
        stored = _with_marker(client, marker)
    assert _assert_envelope(response, 422)["field"] == field
    assert stored == []


def test_a_missing_required_field_is_422_naming_it(system):
    body = request_body()
    del body["max_hours"]
    with system.api() as client:
        response = client.post("/api/v1/review-requests", json=body)
    assert _assert_envelope(response, 422)["field"] == "max_hours"


def test_malformed_json_is_400_and_an_unknown_path_404_and_a_wrong_method_405(system):
    with system.api() as client:
        malformed = client.post(
            "/api/v1/review-requests",
            content=b'{"title": ',
            headers={"Content-Type": "application/json"},
        )
        unknown = client.get("/api/v1/no-such-thing")
        wrong_method = client.delete("/api/v1/review-requests")
    _assert_envelope(malformed, 400)
    _assert_envelope(unknown, 404)
    _assert_envelope(wrong_method, 405)


def test_the_openapi_document_and_its_rendering_are_served(system):
    with system.api(key="") as anonymous:
        document = anonymous.get("/api/v1/openapi.json")
        docs = anonymous.get("/api/v1/docs")
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    assert docs.status_code == 200


# Rate limit: an instance of its own with a low limit ----------------------------------------


def test_past_the_rate_limit_a_key_gets_429_with_retry_after(system_factory):
    limited = system_factory(extra_env={"API_RATE_LIMIT_PER_MINUTE": "5"})
    # 12 calls span at most one minute boundary, so one fixed window sees more than 5.
    with limited.api() as client:
        answers = [client.get("/api/v1/balance") for _ in range(12)]
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) == {200, 429}, statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    _assert_envelope(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
