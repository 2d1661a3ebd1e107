"""Two daphne processes sharing PostgreSQL and Redis: a client on one sees the events written
through the other, in order and without gaps, and presence spans both processes.

Run with DATABASE_URL=postgres://... and REDIS_URL=redis://... (skipped otherwise)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.factories import AssignmentFactory, CreditGrantFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The test database pytest-django made (the daphnes must see the rows this test commits)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _start_daphne(port: int, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "inloop_site.asgi:application"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _wait_ready(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
            return
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"daphne on {port} did not start: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)


async def _scenario(assignment_id, ports, expert_cookie, company_cookie) -> dict:
    import aiohttp

    path = f"/ws/assignments/{assignment_id}/"

    async def open_socket(session, port, cookie):
        return await session.ws_connect(
            f"ws://127.0.0.1:{port}{path}",
            headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
        )

    async def next_of(ws, kind, timeout=10):
        while True:
            frame = await asyncio.wait_for(ws.receive_json(), timeout)
            if frame["type"] == kind:
                return frame

    async with aiohttp.ClientSession() as session:
        expert_ws = await open_socket(session, ports[0], expert_cookie)
        watcher_ws = await open_socket(session, ports[1], company_cookie)
        try:
            await next_of(expert_ws, "snapshot")
            await next_of(watcher_ws, "snapshot")
            # Presence crosses processes: the expert on A learns about the watcher on B.
            roles: set = set()
            while roles != {"expert", "company"}:
                presence = await next_of(expert_ws, "presence")
                roles = {p["role"] for p in presence["participants"]}

            for n in range(MESSAGES):
                await expert_ws.send_json({"type": "chat.message", "body": f"m{n}"})
            seen = []
            while len(seen) < MESSAGES:
                event = await next_of(watcher_ws, "event")
                seen.append((event["seq"], event["event"]["body"]))

            await watcher_ws.send_json({"type": "chat.message", "body": "from B"})
            back = await next_of(expert_ws, "event")
            while back["event"].get("body") != "from B":
                back = await next_of(expert_ws, "event")
            return {"seen": seen, "back": (back["seq"], back["event"]["body"])}
        finally:
            await expert_ws.close()
            await watcher_ws.close()


def test_a_client_on_one_daphne_sees_the_others_events_in_order(
    organization, expert, company_member, tmp_path
):
    CreditGrantFactory(organization=organization)
    assignment = AssignmentFactory(review_request__organization=organization, expert__user=expert)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inloop_site.settings_test",
        "DATABASE_URL": _database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"daphne-{port}.log" for port in ports]
    processes = [_start_daphne(port, env, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, process, log in zip(ports, processes, logs, strict=True):
            _wait_ready(port, process, log)
        outcome = asyncio.run(
            _scenario(assignment.pk, ports, _cookie(expert), _cookie(company_member))
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)

    assert outcome["seen"] == [(n + 1, f"m{n}") for n in range(MESSAGES)]
    assert outcome["back"] == (MESSAGES + 1, "from B")
