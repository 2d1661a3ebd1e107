"""Users: search, suspend with a reason and reinstate; what suspension stops."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient, Client
from django.utils import timezone

from inloop_site.asgi import application
from marketplace.models import AuditLog, User
from review_requests.models import Offer
from tests.conftest import give_operator_mfa, login_client
from tests.factories import PASSWORD, ExpertProfileFactory, ReviewRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def op_client(operator):
    give_operator_mfa(operator)
    return login_client(operator)


def test_search_finds_by_email_and_organization(op_client, company_member, expert):
    response = op_client.get("/console/users/", {"q": "acme"})
    assert response.status_code == 200
    assert b"carla@acme.test" in response.content
    assert b"erin.expert@inloop.test" not in response.content
    response = op_client.get("/console/users/", {"type": "expert"})
    assert b"erin.expert@inloop.test" in response.content
    assert b"carla@acme.test" not in response.content


def test_suspend_needs_a_reason_and_changes_nothing_without(op_client, expert):
    response = op_client.post(f"/console/users/{expert.pk}/suspend/", {"reason": "  "})
    assert response.status_code == 302
    expert.refresh_from_db()
    assert expert.suspended_at is None
    assert not AuditLog.objects.filter(action="user.suspended").exists()


def test_suspend_and_reinstate_are_audited(op_client, operator, expert):
    op_client.post(f"/console/users/{expert.pk}/suspend/", {"reason": "fake credentials"})
    expert.refresh_from_db()
    assert expert.suspended_at is not None
    assert expert.suspended_reason == "fake credentials"
    row = AuditLog.objects.get(action="user.suspended")
    assert row.actor == operator
    assert row.after["reason"] == "fake credentials"
    page = op_client.get(f"/console/users/{expert.pk}/")
    assert b"fake credentials" in page.content

    op_client.post(f"/console/users/{expert.pk}/reinstate/")
    expert.refresh_from_db()
    assert expert.suspended_at is None
    assert AuditLog.objects.filter(action="user.reinstated", actor=operator).exists()


def test_suspended_user_cannot_log_in_and_open_session_ends(op_client, expert):
    session = login_client(expert)
    op_client.post(f"/console/users/{expert.pk}/suspend/", {"reason": "abuse"})
    response = session.get("/notifications/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    fresh = Client()
    fresh.post("/accounts/login/", {"login": expert.email, "password": PASSWORD})
    assert "_auth_user_id" not in fresh.session


def test_suspending_company_owner_stops_their_api_keys(op_client, company_member, api_key):
    def call():
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_key}").get("/api/v1/review-requests")

    assert call().status_code == 200
    op_client.post(f"/console/users/{company_member.pk}/suspend/", {"reason": "chargebacks"})
    assert call().status_code == 401
    op_client.post(f"/console/users/{company_member.pk}/reinstate/")
    assert call().status_code == 200


def test_suspending_expert_withdraws_open_offers(
    op_client, expert, organization, django_capture_on_commit_callbacks
):
    profile = ExpertProfileFactory(user=expert, specializations=["medicine.radiology"])
    rr = ReviewRequestFactory(organization=organization)
    offer = Offer.objects.create(
        review_request=rr,
        expert=profile,
        rate_cents=10_000,
        expires_at=timezone.now() + timedelta(minutes=15),
    )
    with django_capture_on_commit_callbacks(execute=True):
        op_client.post(f"/console/users/{expert.pk}/suspend/", {"reason": "no-shows"})
    offer.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN


def test_operator_cannot_suspend_themselves(op_client, operator):
    op_client.post(f"/console/users/{operator.pk}/suspend/", {"reason": "oops"})
    operator.refresh_from_db()
    assert operator.suspended_at is None


@pytest.mark.django_db(transaction=True)
async def test_suspension_closes_the_users_open_sockets():
    from asgiref.sync import sync_to_async

    from marketplace import services

    target = await sync_to_async(UserFactory)(
        email="sam.socket@inloop.test", account_type=User.AccountType.EXPERT
    )
    boss = await sync_to_async(UserFactory)(
        email="otto.op@inloop.test", account_type=User.AccountType.OPERATOR, is_staff=True
    )
    client = AsyncClient()
    await client.aforce_login(target)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    comm = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())],
    )
    connected, _ = await comm.connect()
    assert connected
    try:
        await sync_to_async(services.user_suspend)(user=target, actor=boss, reason="abuse")
        closed = await comm.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4403}
    finally:
        await comm.disconnect()
    # A new connection is refused too.
    again = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())],
    )
    connected, _ = await again.connect()
    assert not connected
    await again.disconnect()
