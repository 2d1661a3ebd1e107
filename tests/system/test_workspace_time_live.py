"""Billed time on the running product: a real expert, real daphne, real sockets. Two visits
with a wait between them bill no more than the time a socket was open (issue 13: four short
visits, about 19 s connected, billed 2 min 45 s, because the gap between a heartbeat and the next
visit counted)."""

from __future__ import annotations

import asyncio
import json
import time

import websockets

AWAY_SECONDS = 4


def _assignment_for_a_seeded_expert(system) -> tuple[str, str, object]:
    """A request created by API, offered by the worker, accepted by its expert over HTTP:
    (request id, assignment id, the expert's logged-in client)."""
    body = {
        "title": "Check a contract clause for billing",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "The tenant may terminate at any time."},
        "max_hours": 0.5,
    }
    with system.api() as api:
        created = api.post("/api/v1/review-requests", json=body)
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    # Which seeded expert the worker offered it to (matching ranks them; any one will do).
    find = (
        "from review_requests.models import Offer;"
        f"o = Offer.objects.filter(review_request_id='{request_id}', status='open')"
        ".select_related('expert__user').first();"
        "print('offered-to:' + (o.expert.user.email if o else ''))"
    )

    def offered_to() -> str:
        lines = system.manage("shell", "-c", find).splitlines()
        return next((line.split(":", 1)[1] for line in lines if line.startswith("offered-to:")), "")

    email = system.wait_until(offered_to, timeout=60, what="an offer")
    passwords = {e["email"]: e["password"] for e in system.seed["experts"]}
    assert email in passwords, (email, sorted(passwords)[:3])
    password = passwords[email]
    expert = system.login(email, password)
    offers = expert.get("/api/v1/me/offers").json()["data"]
    offer = next(o for o in offers if o["review_request"]["id"] == request_id)
    accepted = expert.post(
        f"/api/v1/offers/{offer['id']}/accept", headers=system.csrf_headers(expert)
    )
    assert accepted.status_code == 200, accepted.text
    return request_id, accepted.json()["assignment_id"], expert


async def _visit(url: str, headers, *, stay: float) -> float:
    """Open the workspace, beat at once and after `stay` seconds, close: seconds connected."""
    started = time.monotonic()
    async with websockets.connect(url, additional_headers=headers) as socket:

        async def next_of(kind: str) -> dict:
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 15))
                if frame["type"] == kind:
                    return frame

        await next_of("snapshot")
        await socket.send(json.dumps({"type": "heartbeat"}))
        await next_of("time")
        await asyncio.sleep(stay)
        await socket.send(json.dumps({"type": "heartbeat"}))
        await next_of("time")
    return time.monotonic() - started


def test_two_visits_bill_no_more_than_the_time_a_socket_was_open(system):
    request_id, assignment_id, expert = _assignment_for_a_seeded_expert(system)
    url = f"{system.ws_url}/ws/assignments/{assignment_id}/"
    headers = system.ws_headers(expert)

    async def visits() -> float:
        connected = await _visit(url, headers, stay=1.5)
        await asyncio.sleep(AWAY_SECONDS)  # nobody in the workspace
        return connected + await _visit(url, headers, stay=1.5)

    connected = asyncio.run(visits())

    def billed() -> int:
        with system.api() as api:
            rr = api.get(f"/api/v1/review-requests/{request_id}").json()
        return next(a for a in rr["assignments"] if a["id"] == assignment_id)["billed_seconds"]

    # The closes are recorded by daphne as each socket ends; give the last one a moment.
    time.sleep(1)
    assert 3 <= billed() <= connected < 3 + AWAY_SECONDS
    expert.close()
