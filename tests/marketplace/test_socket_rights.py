"""Sockets follow rights at once: every change that takes a right away closes the user's sockets
that depended on it (realtime.rights_changed, re-checked by each consumer), and a socket closed
that way forwards nothing more. Real sessions, an Origin header, every communicator disconnected.
The same over two daphne processes: tests/scale/test_socket_rights_two_daphnes.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from allauth.mfa.models import Authenticator
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient

from inloop_site.asgi import application
from marketplace import services
from marketplace.models import Membership, User
from tests.conftest import give_operator_mfa
from tests.factories import PASSWORD
from tests.review_requests.workspace_support import (
    ORIGIN,
    communicator,
    drain,
    join,
    next_event,
    receive_until,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-brand-new-passphrase-42"


def _cookie_of(client: AsyncClient) -> bytes:
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _open(path: str, cookie: bytes) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, path, headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await comm.connect()
    assert connected, code
    return comm


async def _closed_with(comm: WebsocketCommunicator, *, timeout: float = 2) -> tuple[int, list]:
    """The close code, and every frame the socket sent before it."""
    frames = []
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code"), frames
        frames.append(output)


async def _still_open(comm: WebsocketCommunicator) -> bool:
    """Nothing (no close) arrives within a generous second."""
    return await comm.receive_nothing(timeout=1)


def _chat(assignment, user, body):
    from review_requests import workspace

    workspace.chat_post(assignment_id=str(assignment.pk), user=user, body=body)


# A company member removed ------------------------------------------------------------------


async def test_removed_member_is_closed_and_gets_no_more_chat(
    assignment, expert, company_member, plain_member
):
    expert_comm, _ = await join(assignment.pk, expert)
    member_comm, _ = await join(assignment.pk, plain_member)
    request_comm = await _open(
        f"/ws/requests/{assignment.review_request_id}/", await session_cookie(plain_member)
    )
    try:
        await receive_until(request_comm, "hello")
        membership = await database_sync_to_async(Membership.objects.get)(user=plain_member)
        await database_sync_to_async(services.membership_remove)(
            membership=membership, actor=company_member
        )
        # Written after the removal committed: the expert sees it, the removed member must not.
        await database_sync_to_async(_chat)(assignment, expert, "after the removal")
        code, frames = await _closed_with(member_comm)
        assert code == 4403
        assert not any("after the removal" in frame.get("text", "") for frame in frames)
        assert (await _closed_with(request_comm))[0] == 4403
        assert (await next_event(expert_comm))["event"]["body"] == "after the removal"
    finally:
        for comm in (expert_comm, member_comm, request_comm):
            await comm.disconnect()


async def test_membership_deleted_outside_the_services_closes_too(assignment, plain_member):
    """The Django admin deletes rows without our services: the row's signal is what counts."""
    member_comm, _ = await join(assignment.pk, plain_member)
    try:
        await database_sync_to_async(Membership.objects.filter(user=plain_member).delete)()
        assert (await _closed_with(member_comm))[0] == 4403
    finally:
        await member_comm.disconnect()


async def test_lowered_role_keeps_a_watch_every_role_may_hold(
    assignment, expert, company_member, plain_member
):
    """Owners, admins and members may all watch: lowering a role re-checks and closes nothing."""
    membership = await database_sync_to_async(Membership.objects.get)(user=plain_member)
    await database_sync_to_async(services.membership_set_role)(
        membership=membership, role=Membership.Role.ADMIN, actor=company_member
    )
    member_comm, _ = await join(assignment.pk, plain_member)
    try:
        await database_sync_to_async(services.membership_set_role)(
            membership=membership, role=Membership.Role.MEMBER, actor=company_member
        )
        await database_sync_to_async(_chat)(assignment, expert, "still here?")
        assert (await next_event(member_comm))["event"]["body"] == "still here?"
    finally:
        await member_comm.disconnect()


# A password changed ----------------------------------------------------------------------


async def test_password_change_closes_every_socket_of_the_user_and_ends_other_sessions(
    assignment, plain_member
):
    """The tab that changed the password keeps its HTTP session (update_session_auth_hash), but
    its sockets close as well: a socket holds the session as it was opened, and cannot tell
    the user's own tab from someone who copied that cookie. Its pages reopen them."""
    changer, other = AsyncClient(), AsyncClient()
    await changer.aforce_login(plain_member)
    await other.aforce_login(plain_member)
    sockets = [
        await _open(f"/ws/assignments/{assignment.pk}/", _cookie_of(changer)),
        await _open("/ws/notifications/", _cookie_of(changer)),
        await _open(f"/ws/assignments/{assignment.pk}/", _cookie_of(other)),
        await _open(f"/ws/requests/{assignment.review_request_id}/", _cookie_of(other)),
    ]
    try:
        response = await changer.post(
            "/accounts/password/change/",
            {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
        assert response.status_code == 302
        for comm in sockets:
            assert (await _closed_with(comm))[0] == 4401
        assert (await changer.get("/company/team/")).status_code == 200
        other_page = await other.get("/company/team/")
        assert other_page.status_code == 302 and "/accounts/login/" in other_page["Location"]
        # The changing tab opens sockets again with its cycled session; the old cookie cannot.
        again = await _open("/ws/notifications/", _cookie_of(changer))
        await again.disconnect()
        refused = WebsocketCommunicator(
            application, "/ws/notifications/", headers=[ORIGIN, (b"cookie", _cookie_of(other))]
        )
        assert await refused.connect() == (False, 4401)
        await refused.disconnect()
    finally:
        for comm in sockets:
            await comm.disconnect()


# Every websocket route: how to open it for someone who may (found from the routing, so a new
# route without an entry fails here).
ROUTES = {
    "ws/notifications/": lambda a: ("/ws/notifications/", "expert"),
    "ws/assignments/<uuid:assignment_id>/": lambda a: (f"/ws/assignments/{a.pk}/", "expert"),
    "ws/requests/<uuid:request_id>/": lambda a: (
        f"/ws/requests/{a.review_request_id}/",
        "plain_member",
    ),
}


def test_every_websocket_route_is_listed():
    from inloop_site.routing import websocket_urlpatterns

    assert {str(route.pattern) for route in websocket_urlpatterns} == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_password_set_outside_allauth_closes_every_route(
    route, assignment, expert, plain_member
):
    """manage.py changepassword and the admin's form: set_password and save, nothing else."""
    path, cast = ROUTES[route](assignment)
    user = {"expert": expert, "plain_member": plain_member}[cast]
    comm = await _open(path, await session_cookie(user))
    try:

        def change():
            fresh = User.objects.get(pk=user.pk)
            fresh.set_password(NEW_PASSWORD)
            fresh.save()

        await database_sync_to_async(change)()
        assert (await _closed_with(comm))[0] == 4401
    finally:
        await comm.disconnect()


async def test_other_saves_of_the_user_close_nothing(expert):
    comm = await _open("/ws/notifications/", await session_cookie(expert))
    try:

        def rename():
            user = User.objects.get(pk=expert.pk)
            user.first_name = "Erina"
            user.save()

        await database_sync_to_async(rename)()
        assert await _still_open(comm)
    finally:
        await comm.disconnect()


# Operators and two-factor authentication ---------------------------------------------------


async def test_operator_without_two_factor_cannot_watch_a_request(assignment, operator):
    path = f"/ws/requests/{assignment.review_request_id}/"
    comm = WebsocketCommunicator(
        application, path, headers=[ORIGIN, (b"cookie", await session_cookie(operator))]
    )
    assert await comm.connect() == (False, 4403)
    await comm.disconnect()
    await database_sync_to_async(give_operator_mfa)(operator)
    comm = await _open(path, await session_cookie(operator))
    await comm.disconnect()


async def test_two_factor_removed_closes_the_operators_sockets(assignment, expert, operator):
    await database_sync_to_async(give_operator_mfa)(operator)
    workspace_comm, _ = await join(assignment.pk, operator)
    request_comm = await _open(
        f"/ws/requests/{assignment.review_request_id}/", await session_cookie(operator)
    )
    notifications = await _open("/ws/notifications/", await session_cookie(operator))
    try:
        await receive_until(request_comm, "hello")
        await database_sync_to_async(Authenticator.objects.filter(user=operator).delete)()
        await database_sync_to_async(_chat)(assignment, expert, "operators only with 2FA")
        code, frames = await _closed_with(workspace_comm)
        assert code == 4403
        assert not any("operators only" in frame.get("text", "") for frame in frames)
        assert (await _closed_with(request_comm))[0] == 4403
        # Notifications are the operator's own, two-factor or not: that socket stays.
        assert await _still_open(notifications)
    finally:
        for comm in (workspace_comm, request_comm, notifications):
            await comm.disconnect()


# Suspension and deactivation -----------------------------------------------------------------


async def test_suspension_closes_every_socket_of_the_user(assignment, plain_member, operator):
    workspace_comm, _ = await join(assignment.pk, plain_member)
    notifications = await _open("/ws/notifications/", await session_cookie(plain_member))
    try:
        await database_sync_to_async(services.user_suspend)(
            user=plain_member, actor=operator, reason="abuse"
        )
        assert (await _closed_with(workspace_comm))[0] == 4403
        assert (await _closed_with(notifications))[0] == 4403
    finally:
        await workspace_comm.disconnect()
        await notifications.disconnect()


async def test_deactivated_account_is_closed(assignment, expert):
    expert_comm, _ = await join(assignment.pk, expert)
    try:
        user = await database_sync_to_async(User.objects.get)(pk=expert.pk)
        user.is_active = False
        await database_sync_to_async(user.save)(update_fields=["is_active"])
        assert (await _closed_with(expert_comm))[0] == 4401
    finally:
        await expert_comm.disconnect()


# A change landing while a socket joins --------------------------------------------------------


async def test_membership_removed_while_the_socket_joins_still_closes_it(
    assignment, company_member, plain_member
):
    """The join read the rights before the removal committed; the removal's broadcast went out
    before the handshake was accepted. The socket joined its user's group before that read, so
    the broadcast is waiting for it and closes it once it is open."""
    from channels.auth import AuthMiddlewareStack
    from channels.routing import URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.urls import path

    from review_requests.consumers import WorkspaceConsumer

    rights_read, removed = asyncio.Event(), asyncio.Event()

    class JoinSlowly(WorkspaceConsumer):
        async def authorize(self, user) -> bool:
            allowed = await super().authorize(user)
            if not rights_read.is_set():  # only the join waits, not the re-check
                rights_read.set()
                await removed.wait()
            return allowed

    app = AllowedHostsOriginValidator(
        AuthMiddlewareStack(
            URLRouter([path("ws/assignments/<uuid:assignment_id>/", JoinSlowly.as_asgi())])
        )
    )
    comm = communicator(assignment.pk, cookie=await session_cookie(plain_member), app=app)
    joining = asyncio.ensure_future(comm.connect())
    try:
        await asyncio.wait_for(rights_read.wait(), 5)
        membership = await database_sync_to_async(Membership.objects.get)(user=plain_member)
        await database_sync_to_async(services.membership_remove)(
            membership=membership, actor=company_member
        )
        removed.set()
        connected, _ = await joining
        assert connected  # the rights it read allowed it
        assert (await _closed_with(comm))[0] == 4403
    finally:
        await comm.disconnect()


async def test_a_socket_closed_for_a_lost_right_forwards_nothing_queued_behind(
    assignment, plain_member
):
    """An event already queued behind the rights.changed that closed the socket is dropped."""
    from channels.layers import get_channel_layer

    from marketplace.realtime import workspace_group

    member_comm, _ = await join(assignment.pk, plain_member)
    try:
        await drain(member_comm)
        await database_sync_to_async(Membership.objects.filter(user=plain_member).delete)()
        late = {"type": "event", "seq": 1, "event": {"kind": "chat.message", "body": "late"}}
        await get_channel_layer().group_send(
            workspace_group(assignment.pk),
            {"type": "workspace.event", "seq": 1, "text": json.dumps(late)},
        )
        code, before = await _closed_with(member_comm)
        after = await drain(member_comm)
        assert code == 4403
        assert [o for o in before + after if o["type"] == "websocket.send"] == []
    finally:
        await member_comm.disconnect()


async def test_frames_still_in_flight_after_the_close_change_nothing(assignment, expert):
    """The expert's password changed: a chat frame sent before the client saw the close is
    not stored (nor would a heartbeat bill time)."""
    from review_requests.models import WorkspaceEvent

    expert_comm, _ = await join(assignment.pk, expert)
    try:

        def change():
            user = User.objects.get(pk=expert.pk)
            user.set_password(NEW_PASSWORD)
            user.save()

        await database_sync_to_async(change)()
        assert (await _closed_with(expert_comm))[0] == 4401
        await expert_comm.send_json_to({"type": "chat.message", "body": "too late"})
        await drain(expert_comm)
        assert await database_sync_to_async(WorkspaceEvent.objects.count)() == 0
    finally:
        await expert_comm.disconnect()
