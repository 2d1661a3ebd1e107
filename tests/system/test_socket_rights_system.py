"""Sockets follow rights in the running product: two daphnes (web.1, web.2) and a worker from the
Procfile, the demo data, real logins over HTTP with CSRF tokens. A right taken away through
web.1 (or by a management command, a third process) closes the socket web.2 holds within a
second. Unit tests of each change: tests/marketplace/test_socket_rights.py.

Runs in both passes: the embedded Valkey of the default setup crosses processes as Redis does."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
import websockets

from tests.system.conftest import System, run_system

CLOSE_WITHIN = 1.0  # seconds, from the change's answer (committed) to the close on web.2
NEW_PASSWORD = "a-brand-new-passphrase-42"


@pytest.fixture(scope="module")
def two_webs(tmp_path_factory):
    with run_system(
        tmp_path_factory.mktemp("socket-rights"), counts={"web": 2, "worker": 1}
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def review_request_id(two_webs: System) -> str:
    body = {
        "title": "Check a contract clause",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "The tenant may terminate at any time."},
        "max_hours": 0.5,
    }
    with two_webs.api() as client:
        created = client.post("/api/v1/review-requests", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _close_of(socket, *, timeout: float = 5) -> tuple[int | None, float]:
    """The close code web.2 sent (None if still open after `timeout`) and when it arrived (wall
    clock, comparable with another process's on this machine)."""
    deadline = time.time() + timeout
    try:
        while (remaining := deadline - time.time()) > 0:
            await asyncio.wait_for(socket.recv(), remaining)
    except websockets.ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), time.time()
    except TimeoutError:
        pass
    return None, time.time()


def _closes_on_web2(system: System, path: str, session, change) -> tuple[int | None, float]:
    """Open `path` on web.2 with `session`'s cookie, make `change` (a blocking call) meanwhile:
    (close code, seconds from the moment `change` returns (wall clock) to the close). The
    change is committed by then; counting from its start would count the work it does first
    (a password change hashes twice: about 2 s of the second CPU here under load)."""

    async def scenario():
        async with websockets.connect(
            system.ws_urls()[1] + path, additional_headers=system.ws_headers(session)
        ) as socket:
            if not path.startswith("/ws/notifications/"):
                await asyncio.wait_for(socket.recv(), 10)  # hello / snapshot: it is joined
            committed_at, (code, at) = await asyncio.gather(
                asyncio.to_thread(change), _close_of(socket)
            )
            return code, at - committed_at

    return asyncio.run(scenario())


def test_member_removed_on_web1_is_closed_on_web2(two_webs, review_request_id):
    owner, member = two_webs.seed["company"]["members"][:2]
    admin = two_webs.login(owner["email"], owner["password"], url=two_webs.urls[0])
    watcher = two_webs.login(member["email"], member["password"], url=two_webs.urls[1])
    team = admin.get("/company/team/").text
    found = re.search(
        r'action="/company/team/(\d+)/remove/" data-confirm="Remove ' + re.escape(member["email"]),
        team,
    )
    assert found, team[:2000]
    answers = []

    def remove() -> float:
        path = f"/company/team/{found.group(1)}/remove/"
        answers.append(admin.post(path, headers=two_webs.csrf_headers(admin)))
        return time.time()

    code, seconds = _closes_on_web2(two_webs, f"/ws/requests/{review_request_id}/", watcher, remove)
    assert answers[0].status_code == 302
    assert code == 4403
    assert seconds < CLOSE_WITHIN, seconds
    admin.close()
    watcher.close()


def test_password_changed_on_web1_closes_the_socket_on_web2(two_webs, review_request_id):
    owner = two_webs.seed["company"]["members"][0]
    changer = two_webs.login(owner["email"], owner["password"], url=two_webs.urls[0])
    elsewhere = two_webs.login(owner["email"], owner["password"], url=two_webs.urls[1])
    answers = []

    def change_password() -> float:
        form = {"oldpassword": owner["password"], "password1": NEW_PASSWORD}
        form["password2"] = NEW_PASSWORD
        headers = two_webs.csrf_headers(changer)
        answers.append(changer.post("/accounts/password/change/", data=form, headers=headers))
        return time.time()

    code, seconds = _closes_on_web2(
        two_webs, f"/ws/requests/{review_request_id}/", elsewhere, change_password
    )
    assert answers[0].status_code == 302, answers[0].text[:1000]
    assert code == 4401
    assert seconds < CLOSE_WITHIN, seconds
    # Over HTTP the other session is over; the one that changed the password goes on.
    assert elsewhere.get("/company/team/").headers["location"].startswith("/accounts/login/")
    assert changer.get("/company/team/").status_code == 200
    changer.close()
    elsewhere.close()


def test_expert_suspended_by_a_command_is_closed_on_web2(two_webs):
    expert = two_webs.seed["experts"][0]
    session = two_webs.login(expert["email"], expert["password"], url=two_webs.urls[1])
    operator = two_webs.seed["operator"]["email"]
    # The command prints when the service returned (committed): a third process, Redis between.
    script = (
        "import time; from marketplace.models import User; "
        "from marketplace.services import user_suspend; "
        f"user, actor = User.objects.get(email={expert['email']!r}), "
        f"User.objects.get(email={operator!r}); "
        "user_suspend(user=user, actor=actor, reason='system test'); print('at', time.time())"
    )

    def suspend() -> float:
        output = two_webs.manage("shell", "--no-imports", "-c", script)
        return float(re.search(r"^at (\S+)$", output, re.MULTILINE).group(1))

    code, seconds = _closes_on_web2(two_webs, "/ws/notifications/", session, suspend)
    assert code == 4403
    assert seconds < CLOSE_WITHIN, seconds
    session.close()
