"""Authentication of every API route over real HTTP against daphne, where CSRF is enforced as
for any browser (issue 13: a POST with a bad key answered 403 csrf_failed there, while the test
client, which skips CSRF, saw 401). Keys are made and revoked on the API keys page, which
answers its POST with a redirect and shows the new key once."""

from __future__ import annotations

import re

import pytest

UNSAFE = {"post", "put", "patch", "delete"}
MISSING_ID = "00000000-0000-4000-8000-000000000013"
UNAUTHORIZED = {
    "error": {
        "code": "unauthorized",
        "message": "Missing, wrong or revoked credentials.",
        "field": None,
    }
}


def _operations(system) -> list[tuple[str, str]]:
    """(method, path) of every authenticated operation in the served OpenAPI document."""
    with system.api(key="") as client:
        schema = client.get("/api/v1/openapi.json").json()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if operation.get("security"):
                found.append((method, re.sub(r"\{[^}]+\}", MISSING_ID, path)))
    assert ("post", "/api/v1/review-requests") in found
    return found


def _call(client, method: str, path: str, headers=None):
    if method in UNSAFE:
        return client.request(method, path, json={}, headers=headers)
    return client.request(method, path, headers=headers)


@pytest.fixture(scope="module")
def owner(system):
    member = system.seed["company"]["members"][0]
    client = system.login(member["email"], member["password"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def revoked_key(system, owner) -> str:
    """A key made and revoked through the API keys page, as an owner does it in a browser."""
    created = owner.post(
        "/company/api-keys/", data={"name": "to revoke"}, headers=system.csrf_headers(owner)
    )
    assert created.status_code == 302, created.text[:300]
    page = owner.get(created.headers["location"]).text
    raw = re.search(r'id="new-key" type="text" readonly value="(inl_[^"]+)"', page).group(1)
    with system.api(key=raw) as client:
        assert client.get("/api/v1/balance").status_code == 200
    # The revoke form of the key whose prefix the page lists.
    action = re.search(
        r"<code>" + re.escape(raw[:12]) + r".*?action=\"(/company/api-keys/\d+/revoke/)\"",
        page,
        re.S,
    ).group(1)
    revoked = owner.post(action, headers=system.csrf_headers(owner))
    assert revoked.status_code == 302
    return raw


@pytest.mark.parametrize("key", ["", "inl_not-a-key", "revoked"])
def test_every_route_answers_401_to_a_missing_wrong_or_revoked_key(system, key, request):
    if key == "revoked":
        key = request.getfixturevalue("revoked_key")
    refused = []
    with system.api(key=key) as client:
        for method, path in _operations(system):
            response = _call(client, method, path)
            if response.status_code != 401 or response.json() != UNAUTHORIZED:
                refused.append((method, path, response.status_code, response.text[:120]))
    assert refused == []


def test_a_session_post_without_its_csrf_token_is_403_and_with_it_works(system, owner):
    for method, path in _operations(system):
        if method in UNSAFE:
            response = _call(owner, method, path)
            assert response.status_code == 403, (method, path, response.text[:200])
            assert response.json()["error"]["code"] == "csrf_failed"
    body = {
        "title": "Check a clause",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "The tenant may terminate at any time."},
        "max_hours": 0.5,
    }
    created = owner.post("/api/v1/review-requests", json=body, headers=system.csrf_headers(owner))
    assert created.status_code == 201, created.text[:300]


def test_a_good_key_writes_without_any_csrf_token(system):
    body = {
        "title": "Check another clause",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "Rent is due on the first."},
        "max_hours": 0.5,
    }
    with system.api() as client:
        assert client.post("/api/v1/review-requests", json=body).status_code == 201


def test_a_reload_of_the_new_key_page_creates_no_key_and_shows_it_no_more(system, owner):
    def key_count() -> int:
        return owner.get("/company/api-keys/").text.count("/revoke/")

    before = key_count()
    created = owner.post(
        "/company/api-keys/", data={"name": "reload me"}, headers=system.csrf_headers(owner)
    )
    assert created.status_code == 302
    first = owner.get(created.headers["location"]).text
    assert 'id="new-key"' in first
    reloaded = owner.get(created.headers["location"]).text  # what a reload sends
    assert 'id="new-key"' not in reloaded
    assert key_count() == before + 1
