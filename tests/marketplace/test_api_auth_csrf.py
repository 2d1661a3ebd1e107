"""Every API route and method, with CSRF enforced as in a browser or over real HTTP: a bad,
revoked or missing key (and no session) is 401 with the error envelope, never a CSRF failure;
a session without its CSRF token is refused with 403 on unsafe methods; a good key needs no
token. Routes are discovered from the OpenAPI document, so a new route is covered at once."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from inloop_site.api import api
from marketplace.models import ApiKey
from marketplace.services import api_key_revoke
from review_requests.models import ReviewRequest

pytestmark = pytest.mark.django_db

UNSAFE = {"post", "put", "patch", "delete"}
MISSING_ID = uuid.UUID("00000000-0000-4000-8000-000000000013")


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path with ids filled in, needs authentication) for every operation."""
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    found = []
    for path, methods in schema["paths"].items():
        concrete = path
        while "{" in concrete:
            # A fixed id: test ids must be the same in every xdist worker.
            start, end = concrete.index("{"), concrete.index("}")
            concrete = concrete[:start] + str(MISSING_ID) + concrete[end + 1 :]
        for method, operation in methods.items():
            found.append((method, concrete, bool(operation.get("security"))))
    return found


OPERATIONS = _operations()
AUTHENTICATED = [(m, p) for m, p, secured in OPERATIONS if secured]
UNSAFE_AUTHENTICATED = [(m, p) for m, p in AUTHENTICATED if m in UNSAFE]


def test_the_discovery_finds_the_company_and_expert_writes():
    assert ("post", "/api/v1/review-requests") in UNSAFE_AUTHENTICATED
    assert ("post", "/api/v1/review-requests/batch") in UNSAFE_AUTHENTICATED
    assert any(p.endswith("/cancel") for _, p in UNSAFE_AUTHENTICATED)
    assert any(p.endswith("/accept") for _, p in UNSAFE_AUTHENTICATED)


def _call(client: Client, method: str, path: str, **headers):
    if method not in UNSAFE:
        return getattr(client, method)(path, headers=headers)
    return getattr(client, method)(path, "{}", content_type="application/json", headers=headers)


def _assert_unauthorized(response) -> None:
    assert response.status_code == 401, (response.status_code, response.content[:200])
    assert response.json() == {
        "error": {
            "code": "unauthorized",
            "message": "Missing, wrong or revoked credentials.",
            "field": None,
        }
    }


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_no_credentials_is_401_with_the_envelope(method, path):
    _assert_unauthorized(_call(Client(enforce_csrf_checks=True), method, path))


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_a_wrong_key_is_401_with_the_envelope(method, path):
    client = Client(enforce_csrf_checks=True)
    _assert_unauthorized(_call(client, method, path, Authorization="Bearer inl_wrong"))


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_a_revoked_key_is_401_with_the_envelope(method, path, api_key, company_member):
    api_key_revoke(api_key=ApiKey.objects.get(), actor=company_member)
    client = Client(enforce_csrf_checks=True)
    _assert_unauthorized(_call(client, method, path, Authorization=f"Bearer {api_key}"))


@pytest.mark.parametrize(("method", "path"), UNSAFE_AUTHENTICATED)
@pytest.mark.parametrize("who", ["company_member", "expert"])
def test_a_session_without_its_csrf_token_is_403_csrf_failed(method, path, who, request):
    client = Client(enforce_csrf_checks=True)
    client.force_login(request.getfixturevalue(who))
    response = _call(client, method, path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize(("method", "path"), UNSAFE_AUTHENTICATED)
def test_a_wrong_key_beside_a_session_without_token_is_still_refused(method, path, company_member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(company_member)
    response = _call(client, method, path, Authorization="Bearer inl_wrong")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_a_good_key_writes_without_a_csrf_token(api_key):
    from tests.review_requests.api_offers_support import body

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/review-requests",
        body(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 201
    assert ReviewRequest.objects.count() == 1
