"""The middleware stack as daphne runs it (Django's async handler, here through AsyncClient): one
thread hop for the whole stack, and the security properties of the API and the pages intact on
that path: CSRF on session-authenticated writes, suspended users refused, 413, rate limits."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone
from django.utils.module_loading import import_string

from review_requests.models import ReviewRequest
from tests.review_requests.api_offers_support import body

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/review-requests"


@pytest.fixture(autouse=True)
async def _close_worker_thread_connections():
    # The views' database work runs in asgiref's worker thread; the test client does not close
    # connections at the end of a request, so close that thread's before the database goes.
    yield
    await sync_to_async(connections.close_all)()


def test_the_innermost_middleware_is_sync_only_so_the_stack_is_one_thread_hop():
    # Django runs every middleware above a sync-only one in sync mode (one hop for the run) but
    # switches those below it to async mode, where each hook of a MiddlewareMixin is a thread
    # hop of its own: with a sync-only middleware last, nothing runs in that mode.
    innermost = import_string(settings.MIDDLEWARE[-1])
    assert not getattr(innermost, "async_capable", False)


async def _session_client(user, *, enforce_csrf: bool) -> AsyncClient:
    client = AsyncClient(enforce_csrf_checks=enforce_csrf)
    await client.aforce_login(user)
    return client


async def _csrf_token(client: AsyncClient) -> str:
    # A page with a form sets the cookie, as in a browser.
    response = await client.get("/company/api-keys/")
    assert response.status_code == 200
    return client.cookies["csrftoken"].value


def _key_headers(api_key: str) -> dict:
    return {"Authorization": f"Bearer {api_key}"}


async def test_api_key_create_works_on_the_async_path(api_key):
    client = AsyncClient()
    response = await client.post(
        URL, json.dumps(body()), content_type="application/json", headers=_key_headers(api_key)
    )
    assert response.status_code == 201
    assert await ReviewRequest.objects.filter(pk=response.json()["id"]).aexists()
    listed = await client.get(URL + "?limit=100", headers=_key_headers(api_key))
    assert [item["id"] for item in listed.json()["data"]] == [response.json()["id"]]


async def test_session_write_to_the_api_needs_the_csrf_token(company_member):
    client = await _session_client(company_member, enforce_csrf=True)
    refused = await client.post(URL, json.dumps(body()), content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert not await ReviewRequest.objects.aexists()

    token = await _csrf_token(client)
    accepted = await client.post(
        URL, json.dumps(body()), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201
    stored = await ReviewRequest.objects.select_related("created_by_user").aget()
    assert stored.created_by_user == company_member


async def test_session_read_of_the_api_works_without_a_token(company_member):
    client = await _session_client(company_member, enforce_csrf=True)
    response = await client.get(URL)
    assert response.status_code == 200


async def test_page_form_post_without_csrf_token_is_refused(company_member):
    client = await _session_client(company_member, enforce_csrf=True)
    response = await client.post("/company/api-keys/", {"name": "sneaky"})
    assert response.status_code == 403
    from marketplace.models import ApiKey

    assert not await ApiKey.objects.filter(name="sneaky").aexists()


async def test_suspended_users_session_is_refused_and_ended(company_member):
    client = await _session_client(company_member, enforce_csrf=False)
    assert (await client.get(URL)).status_code == 200
    company_member.suspended_at = timezone.now()
    await sync_to_async(company_member.save)(update_fields=["suspended_at"])

    refused = await client.get(URL)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    # The session is gone: even after reinstatement the old cookie logs nobody in.
    company_member.suspended_at = None
    await sync_to_async(company_member.save)(update_fields=["suspended_at"])
    assert (await client.get(URL)).status_code == 401


async def test_suspended_users_page_request_redirects_to_login(company_member):
    client = await _session_client(company_member, enforce_csrf=False)
    company_member.suspended_at = timezone.now()
    await sync_to_async(company_member.save)(update_fields=["suspended_at"])
    response = await client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


async def test_body_over_1_mib_is_413_on_the_async_path(api_key):
    client = AsyncClient()
    huge = body(content={"type": "text", "body": "x" * (1024 * 1024 + 10)})
    response = await client.post(
        URL, json.dumps(huge), content_type="application/json", headers=_key_headers(api_key)
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not await ReviewRequest.objects.aexists()


async def test_rate_limit_is_429_with_retry_after_on_the_async_path(api_key, settings):
    from django.core.cache import cache

    await sync_to_async(cache.clear)()
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    client = AsyncClient()
    statuses = [(await client.get(URL, headers=_key_headers(api_key))).status_code for _ in "ab"]
    assert statuses == [200, 200]
    response = await client.post(
        URL, json.dumps(body()), content_type="application/json", headers=_key_headers(api_key)
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"
    assert not await ReviewRequest.objects.aexists()
    await sync_to_async(cache.clear)()


async def test_security_headers_are_on_api_responses(api_key):
    response = await AsyncClient().get(URL, headers=_key_headers(api_key))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
