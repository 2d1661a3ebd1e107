"""Sockets follow rights across processes: a socket held by daphne B is closed within a second
when its user loses the right through daphne A (a real allauth login over HTTP, CSRF token and
all) or through a service called in this test process. Two daphnes, PostgreSQL and Redis.

Run with DATABASE_URL=postgres://... and REDIS_URL=redis://... (skipped otherwise)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from django.db import connection

from marketplace import services
from marketplace.models import Membership, User
from review_requests.services import assignment_release
from tests.conftest import give_operator_mfa
from tests.factories import PASSWORD
from tests.scale.test_two_daphnes import (
    _cookie,
    _database_url,
    _free_port,
    _start_daphne,
    _wait_ready,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

CLOSE_WITHIN = 1.0  # seconds, from sending the change to the socket's close on the other daphne
NEW_PASSWORD = "a-brand-new-passphrase-42"


@pytest.fixture(scope="module")
def daphnes(django_db_setup, tmp_path_factory):
    """Two daphne processes on the test database and this run's Redis prefix: (port A, port B)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inloop_site.settings_test",
        "DATABASE_URL": _database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    logs_dir = tmp_path_factory.mktemp("daphnes")
    ports = (_free_port(), _free_port())
    logs = [logs_dir / f"daphne-{port}.log" for port in ports]
    processes = [_start_daphne(port, env, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, process, log in zip(ports, processes, logs, strict=True):
            _wait_ready(port, process, log)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _url(port: int, path: str = "") -> str:
    return f"http://127.0.0.1:{port}{path}"


def _csrf(session) -> str:
    return next(c.value for c in session.cookie_jar if c.key == "csrftoken")


async def _http_session():
    import aiohttp

    # unsafe: keep cookies for an IP address; a cookie has no port, so both daphnes get it.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _login(session, port: int, email: str, password: str = PASSWORD) -> None:
    """allauth's login form over HTTP: the page sets the CSRF cookie, the POST carries it."""
    async with session.get(_url(port, "/accounts/login/")) as page:
        assert page.status == 200
    async with session.post(
        _url(port, "/accounts/login/"),
        data={"login": email, "password": password, "csrfmiddlewaretoken": _csrf(session)},
        allow_redirects=False,
    ) as answer:
        assert answer.status == 302, await answer.text()


async def _post_form(session, port: int, path: str, data: dict) -> int:
    async with session.post(
        _url(port, path),
        data={**data, "csrfmiddlewaretoken": _csrf(session)},
        allow_redirects=False,
    ) as answer:
        return answer.status


async def _open(session, port: int, path: str, *, cookie: str | None = None):
    headers = {"Origin": _url(port)}
    if cookie:
        headers["Cookie"] = cookie
    ws = await session.ws_connect(f"ws://127.0.0.1:{port}{path}", headers=headers)
    if not path.startswith("/ws/notifications/"):  # that one sends only notifications
        first = await asyncio.wait_for(ws.receive_json(), 10)
        assert first["type"] in {"snapshot", "hello"}, first
    return ws


async def _close_of(ws, *, timeout: float = 5) -> tuple[int | None, float]:
    """The close code (None if still open after `timeout`) and when it arrived (monotonic).
    Read while the change is being made, so the time is the close's, not the change's end."""
    import aiohttp

    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(ws.receive(), remaining)
        except TimeoutError:
            break
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code, time.monotonic()
    return None, time.monotonic()


def _in_thread(func, *args, **kwargs):
    """A service call from this test process (its own database connection, closed after)."""

    def run():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return asyncio.to_thread(run)


# Through daphne A over HTTP --------------------------------------------------------------------


def test_member_removed_on_a_is_closed_on_b(daphnes, assignment, company_member, plain_member):
    port_a, port_b = daphnes
    membership_pk = Membership.objects.get(user=plain_member).pk
    rr_id = assignment.review_request_id

    async def scenario():
        owner, member = await _http_session(), await _http_session()
        async with owner, member:
            await _login(owner, port_a, company_member.email)
            await _login(member, port_b, plain_member.email)
            watch = await _open(member, port_b, f"/ws/assignments/{assignment.pk}/")
            status = await _open(member, port_b, f"/ws/requests/{rr_id}/")
            try:
                started = time.monotonic()
                status_code, *closed = await asyncio.gather(
                    _post_form(owner, port_a, f"/company/team/{membership_pk}/remove/", {}),
                    _close_of(watch),
                    _close_of(status),
                )
                return status_code, [(code, at - started) for code, at in closed]
            finally:
                await watch.close()
                await status.close()

    status_code, closed = asyncio.run(scenario())
    assert status_code == 302
    assert [code for code, _ in closed] == [4403, 4403]
    assert max(seconds for _, seconds in closed) < CLOSE_WITHIN, closed
    assert not Membership.objects.filter(user=plain_member).exists()


def test_password_changed_on_a_closes_every_socket_on_b(daphnes, assignment, plain_member):
    port_a, port_b = daphnes

    async def scenario():
        changer, elsewhere = await _http_session(), await _http_session()
        async with changer, elsewhere:
            await _login(changer, port_a, plain_member.email)
            await _login(elsewhere, port_b, plain_member.email)
            sockets = [
                await _open(changer, port_b, f"/ws/assignments/{assignment.pk}/"),
                await _open(elsewhere, port_b, f"/ws/assignments/{assignment.pk}/"),
            ]
            form = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
            try:
                started = time.monotonic()
                status_code, *closed = await asyncio.gather(
                    _post_form(changer, port_a, "/accounts/password/change/", form),
                    *(_close_of(ws) for ws in sockets),
                )
                closed = [(code, at - started) for code, at in closed]
            finally:
                for ws in sockets:
                    await ws.close()
            async with changer.get(_url(port_b, "/company/team/"), allow_redirects=False) as kept:
                kept_status = kept.status
            async with elsewhere.get(_url(port_b, "/company/team/"), allow_redirects=False) as gone:
                gone_location = gone.headers.get("Location", "")
            return status_code, closed, kept_status, gone_location

    status_code, closed, kept_status, gone_location = asyncio.run(scenario())
    assert status_code == 302
    assert [code for code, _ in closed] == [4401, 4401]
    assert max(seconds for _, seconds in closed) < CLOSE_WITHIN, closed
    assert kept_status == 200  # the changing session goes on (update_session_auth_hash)
    assert gone_location.startswith("/accounts/login/")  # the other session ended


# By a service call in this process ---------------------------------------------------------------


def _service_closes_on_b(port_b: int, path: str, cookie: str, change) -> tuple[int | None, float]:
    """Open `path` on daphne B, run `change` here: (close code, seconds until it closed)."""

    async def scenario():
        async with await _http_session() as session:
            ws = await _open(session, port_b, path, cookie=cookie)
            try:
                started = time.monotonic()
                _, (code, at) = await asyncio.gather(_in_thread(change), _close_of(ws))
                return code, at - started
            finally:
                await ws.close()

    return asyncio.run(scenario())


def test_suspension_in_this_process_closes_the_socket_on_b(
    daphnes, assignment, plain_member, operator
):
    code, seconds = _service_closes_on_b(
        daphnes[1],
        "/ws/notifications/",
        _cookie(plain_member),
        lambda: services.user_suspend(user=plain_member, actor=operator, reason="abuse"),
    )
    assert code == 4403 and seconds < CLOSE_WITHIN, seconds


def test_two_factor_removed_in_this_process_closes_the_workspace_on_b(
    daphnes, assignment, operator
):
    from allauth.mfa.models import Authenticator

    give_operator_mfa(operator)
    code, seconds = _service_closes_on_b(
        daphnes[1],
        f"/ws/assignments/{assignment.pk}/",
        _cookie(operator),
        lambda: Authenticator.objects.filter(user=operator).delete(),
    )
    assert code == 4403 and seconds < CLOSE_WITHIN, seconds


def test_release_in_this_process_closes_the_experts_workspace_on_b(daphnes, assignment, expert):
    code, seconds = _service_closes_on_b(
        daphnes[1],
        f"/ws/assignments/{assignment.pk}/",
        _cookie(expert),
        lambda: assignment_release(assignment=assignment, reason="given back"),
    )
    assert code == 4403 and seconds < CLOSE_WITHIN, seconds


def test_deactivation_in_this_process_closes_the_socket_on_b(daphnes, assignment, expert):
    def deactivate():
        user = User.objects.get(pk=expert.pk)
        user.is_active = False
        user.save(update_fields=["is_active"])

    code, seconds = _service_closes_on_b(
        daphnes[1], "/ws/notifications/", _cookie(expert), deactivate
    )
    assert code == 4401 and seconds < CLOSE_WITHIN, seconds
