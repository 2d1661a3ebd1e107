"""The request page's live socket (/ws/requests/<id>/): members of the owning organization and
operators may watch; others are refused before the handshake; status changes arrive."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient

from inloop_site.asgi import application
from marketplace.models import Membership
from review_requests.services import request_transition
from tests.conftest import give_operator_mfa
from tests.factories import ReviewRequestFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


async def _cookie(user) -> bytes:
    client = AsyncClient()
    await client.aforce_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _connect(review_request_id, user=None) -> tuple[WebsocketCommunicator, bool, int]:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await _cookie(user)))
    comm = WebsocketCommunicator(application, f"/ws/requests/{review_request_id}/", headers=headers)
    connected, code = await comm.connect()
    return comm, connected, code


@sync_to_async
def _request_for(user):
    organization = Membership.objects.get(user=user).organization
    return ReviewRequestFactory(organization=organization)


@sync_to_async
def _cancel(review_request):
    request_transition(review_request=review_request, to="cancelled", reason="test")


async def test_a_member_watches_status_changes_live(company_member, plain_member):
    review_request = await _request_for(company_member)
    comm, connected, _ = await _connect(review_request.pk, plain_member)
    try:
        assert connected
        hello = await comm.receive_json_from(timeout=5)
        assert hello == {"type": "hello", "review_request_id": str(review_request.pk)}
        await _cancel(review_request)
        message = await comm.receive_json_from(timeout=5)
        assert message["type"] == "request.status"
        assert message["status"] == "cancelled"
        # Read-only: anything sent gets an error, and changes nothing.
        await comm.send_json_to({"type": "cancel"})
        assert (await comm.receive_json_from(timeout=5))["code"] == "read_only"
    finally:
        await comm.disconnect()


async def test_an_operator_with_two_factor_may_watch(company_member, operator):
    await sync_to_async(give_operator_mfa)(operator)
    review_request = await _request_for(company_member)
    comm, connected, _ = await _connect(review_request.pk, operator)
    try:
        assert connected
    finally:
        await comm.disconnect()


async def test_an_operator_without_two_factor_is_refused(company_member, operator):
    """The console and the workspace refuse the same account."""
    review_request = await _request_for(company_member)
    comm, connected, code = await _connect(review_request.pk, operator)
    try:
        assert not connected
        assert code == 4403
    finally:
        await comm.disconnect()


async def test_another_tenant_an_expert_and_anonymous_are_refused(
    company_member, other_company_member, expert
):
    review_request = await _request_for(company_member)
    for user, expected in ((other_company_member, 4403), (expert, 4403), (None, 4401)):
        comm, connected, code = await _connect(review_request.pk, user)
        try:
            assert not connected
            assert code == expected
        finally:
            await comm.disconnect()
