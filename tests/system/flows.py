"""Steps the system tests share, done only over HTTP and WebSocket as a customer's code does:
a request body, the seeded cast, waiting for the worker's offer, taking an assignment, reading
frames from a socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from tests.system.conftest import System

OFFER_WAIT_SECONDS = 30  # the worker polls once a second; matching takes well under that


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Check a contract clause",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "The tenant may terminate the lease at any time."},
        "max_hours": 0.5,
    }
    body.update(overrides)
    return body


def on_call_expert(system: System, specialization: str) -> dict[str, Any]:
    """The seeded expert on call around the clock who holds `specialization`: without a
    deadline, the only one matching can offer a leaf to at any hour."""
    for expert in system.seed["experts"]:
        if expert["always_available"] and specialization in expert["specializations"]:
            return expert
    raise AssertionError(f"no seeded on-call expert holds {specialization}")


def experts_holding(system: System, specialization: str) -> list[dict[str, Any]]:
    return [e for e in system.seed["experts"] if specialization in e["specializations"]]


def company_member(system: System) -> dict[str, str]:
    """The seeded company's plain member (members[0] is its owner)."""
    return system.seed["company"]["members"][1]


def company_owner(system: System) -> dict[str, str]:
    return system.seed["company"]["members"][0]


def create_request(system: System, **overrides: Any) -> dict[str, Any]:
    with system.api() as client:
        response = client.post("/api/v1/review-requests", json=request_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def offer_for(client: httpx.Client, request_id: str) -> dict[str, Any] | None:
    response = client.get("/api/v1/me/offers")
    assert response.status_code == 200, response.text
    for offer in response.json()["data"]:
        if offer["review_request"]["id"] == request_id:
            return offer
    return None


def wait_offer(
    system: System, client: httpx.Client, request_id: str, timeout: float = OFFER_WAIT_SECONDS
):
    """Poll the expert's open offers (as the inbox page does) until the worker's offer for
    `request_id` is there. Slower than 10/s: the expert endpoints are rate limited too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        offer = offer_for(client, request_id)
        if offer:
            return offer
        time.sleep(0.3)
    raise AssertionError(f"no offer for {request_id} within {timeout} s\n{system.logs()}")


def accept(system: System, client: httpx.Client, offer_id: str) -> httpx.Response:
    return client.post(f"/api/v1/offers/{offer_id}/accept", headers=system.csrf_headers(client))


def take_assignment(
    system: System, specialization: str, **overrides: Any
) -> tuple[str, httpx.Client, dict[str, Any]]:
    """A request in `specialization`, offered by the worker to its on-call expert, who accepts
    over the API: (assignment id, the expert's logged-in client, the created request)."""
    expert = on_call_expert(system, specialization)
    client = system.login(expert["email"], expert["password"])
    created = create_request(system, specialization=specialization, **overrides)
    offer = wait_offer(system, client, created["id"])
    response = accept(system, client, offer["id"])
    assert response.status_code == 200, response.text
    return response.json()["assignment_id"], client, created


def new_api_key(system: System, owner: httpx.Client, name: str | None = None) -> tuple[str, int]:
    """Create a key on the company's API keys page as its owner: (the key, its row's pk)."""
    name = name or f"system-test-{uuid.uuid4().hex[:8]}"
    page = owner.post("/company/api-keys/", data={"name": name}, headers=system.csrf_headers(owner))
    if page.status_code == 302:  # shown once on the page it redirects to (post/redirect/get)
        page = owner.get(page.headers["location"])
    assert page.status_code == 200, (page.status_code, page.text[:300])
    key = re.search(r'id="new-key"[^>]*value="([^"]+)"', page.text)
    assert key, "the API keys page showed no new key"
    # The revoke form of this key's row comes right after its name.
    row = re.search(
        re.escape(name) + r".*?action=\"/company/api-keys/(\d+)/revoke/\"", page.text, re.S
    )
    assert row, "the API keys page has no revoke form for the new key"
    return key.group(1), int(row.group(1))


def revoke_api_key(system: System, owner: httpx.Client, pk: int) -> None:
    response = owner.post(f"/company/api-keys/{pk}/revoke/", headers=system.csrf_headers(owner))
    assert response.status_code == 302, response.text[:500]


# Sockets -------------------------------------------------------------------------------------


def connect(system: System, path: str, client: httpx.Client | None, *, url: str | None = None):
    """`websockets.connect` with the session of `client` and a same-site Origin."""
    base = url or system.ws_url
    return websockets.connect(
        base + path, additional_headers=system.ws_headers(client), max_size=2**22
    )


async def recv_json(socket, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def recv_until(
    socket, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read frames until one satisfies `predicate`: (that frame, every frame read, it included)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame within {timeout} s; got {seen}")
        try:
            frame = await recv_json(socket, left)
        except TimeoutError:
            raise AssertionError(f"no matching frame within {timeout} s; got {seen}") from None
        seen.append(frame)
        if predicate(frame):
            return frame, seen


def events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame.get("type") == "event"]


def is_event(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") == "event" and frame["event"]["kind"] == kind


@contextlib.contextmanager
def paused(system: System, name: str):
    """SIGSTOP one process group (it claims nothing meanwhile), SIGCONT on the way out.

    On SQLite a process stopped inside a write transaction would hold the database's one write
    lock for as long as it is stopped (every other process's write then waits, and the test
    reads that as a hang): it is let go and stopped again until the lock is free."""
    pid = system.processes[name].pid
    for _attempt in range(50):
        os.killpg(pid, signal.SIGSTOP)
        if _sqlite_write_lock_free(system):
            break
        os.killpg(pid, signal.SIGCONT)
        time.sleep(0.1)
    else:
        raise AssertionError(f"{name} kept SQLite's write lock through 50 tries")
    try:
        yield
    finally:
        os.killpg(system.processes[name].pid, signal.SIGCONT)


def _sqlite_write_lock_free(system: System) -> bool:
    path = system.env.get("SQLITE_PATH")
    if not path:
        return True  # PostgreSQL: a stopped process's row locks do not block other inserts
    db = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        db.close()


def shell(system: System, code: str) -> str:
    """The last line `manage.py shell -c code` prints, on the system's database."""
    return system.manage("shell", "-c", code).strip().splitlines()[-1]


def task_rows(system: System, task_name: str) -> list[dict[str, Any]]:
    """The django_tasks_db rows of one task (status, workers), oldest first."""
    code = (
        "import json; from django_tasks_db.models import DBTaskResult; "
        f"print(json.dumps([dict(status=r.status, worker_ids=r.worker_ids) for r in "
        f"DBTaskResult.objects.filter(task_path__endswith={task_name!r}).order_by('enqueued_at')]))"
    )
    return json.loads(shell(system, code))
