"""The expert's side of contract/API.md over HTTP with a real session and CSRF token: the
worker's offers, accept (200, 409 offer_taken, 410 offer_expired), decline, and the offer
arriving live on the expert's notification socket."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.system.conftest import run_system
from tests.system.flows import (
    accept,
    company_member,
    connect,
    create_request,
    experts_holding,
    offer_for,
    on_call_expert,
    recv_until,
    wait_offer,
)

LIVE_SECONDS = 5  # an offer on the socket, well before the inbox's 60 s poll
OFFER_SLACK_SECONDS = 3  # the worker's one-second poll and matching itself


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Offers here live one minute (the least OFFER_EXPIRY_MINUTES allows), so one test can see
    an offer expire; every other test answers its offers within seconds."""
    with run_system(
        tmp_path_factory.mktemp("system"), extra_env={"OFFER_EXPIRY_MINUTES": "1"}
    ) as instance:
        yield instance


def _login(system, expert):
    return system.login(expert["email"], expert["password"])


def test_a_new_request_becomes_an_open_offer_for_the_on_call_expert(system):
    expert = on_call_expert(system, "law.privacy")
    client = _login(system, expert)
    created = create_request(system, specialization="law.privacy", title="Privacy notice")
    offer = wait_offer(system, client, created["id"])
    assert set(offer) >= {"id", "review_request", "rate_cents", "expires_at"}
    assert offer["review_request"]["title"] == "Privacy notice"
    assert "result" not in offer["review_request"]
    assert offer["rate_cents"] == expert["rate_cents"]
    assert datetime.fromisoformat(offer["expires_at"]) > datetime.now(UTC)
    client.close()


def test_accept_answers_200_with_the_assignment_and_the_request_is_in_review(system):
    expert = on_call_expert(system, "science.physics")
    client = _login(system, expert)
    with system.api() as company:
        held_before = company.get("/api/v1/balance").json()["held_cents"]
    created = create_request(system, specialization="science.physics")
    offer = wait_offer(system, client, created["id"])
    response = accept(system, client, offer["id"])
    assert response.status_code == 200, response.text
    assignment_id = response.json()["assignment_id"]
    with system.api() as company:
        fetched = company.get(f"/api/v1/review-requests/{created['id']}").json()
        held_after = company.get("/api/v1/balance").json()["held_cents"]
    assert fetched["status"] == "in_review"
    assert [a["id"] for a in fetched["assignments"]] == [assignment_id]
    assert fetched["assignments"][0]["status"] == "accepted"
    assert fetched["assignments"][0]["expert"]["id"] == expert["id"]
    assert held_after > held_before, "the accept placed a hold"
    assert offer_for(client, created["id"]) is None
    client.close()


def test_the_second_accept_of_a_one_reviewer_request_is_409_offer_taken(system):
    # With a deadline days away, experts with any window before it qualify too: the worker
    # offers the one slot to several of them (OFFER_FANOUT).
    deadline = (datetime.now(UTC) + timedelta(days=6)).isoformat()
    created = create_request(system, specialization="engineering.chemical", deadline=deadline)
    clients = [_login(system, e) for e in experts_holding(system, "engineering.chemical")]

    def offered():
        found = [(c, offer_for(c, created["id"])) for c in clients]
        found = [(c, o) for c, o in found if o]
        return found if len(found) >= 2 else None

    (first, first_offer), (second, second_offer) = system.wait_until(
        offered, timeout=30, what="two offers for one slot"
    )[:2]
    won = accept(system, first, first_offer["id"])
    lost = accept(system, second, second_offer["id"])
    assert won.status_code == 200, won.text
    assert lost.status_code == 409, lost.text
    assert lost.json()["error"]["code"] == "offer_taken"
    with system.api() as company:
        fetched = company.get(f"/api/v1/review-requests/{created['id']}").json()
    assert len(fetched["assignments"]) == 1
    for client in clients:
        client.close()


def test_decline_answers_200_and_the_offer_leaves_the_inbox(system):
    expert = on_call_expert(system, "education.k12")
    client = _login(system, expert)
    created = create_request(system, specialization="education.k12")
    offer = wait_offer(system, client, created["id"])
    response = client.post(
        f"/api/v1/offers/{offer['id']}/decline", headers=system.csrf_headers(client)
    )
    assert response.status_code == 200, response.text
    assert offer_for(client, created["id"]) is None
    # A decline is final: accepting it afterwards gives nothing.
    late = accept(system, client, offer["id"])
    assert late.status_code in (409, 410), late.text
    client.close()


def test_accept_after_the_offer_expired_is_410_offer_expired(system):
    expert = on_call_expert(system, "language.copyediting")
    client = _login(system, expert)
    created = create_request(system, specialization="language.copyediting")
    offer = wait_offer(system, client, created["id"])
    expires_at = datetime.fromisoformat(offer["expires_at"])
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 1)
    response = accept(system, client, offer["id"])
    assert response.status_code == 410, response.text
    assert response.json()["error"]["code"] == "offer_expired"
    with system.api() as company:
        fetched = company.get(f"/api/v1/review-requests/{created['id']}").json()
    assert fetched["assignments"] == []
    client.close()


def test_an_unsafe_call_without_the_csrf_token_is_refused_for_a_session(system):
    expert = on_call_expert(system, "law.privacy")
    client = _login(system, expert)
    response = client.post("/api/v1/offers/00000000-0000-0000-0000-000000000000/accept")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    client.close()


def test_sessions_on_the_wrong_side_are_401_and_403(system):
    expert = _login(system, on_call_expert(system, "law.privacy"))
    member = company_member(system)
    company = system.login(member["email"], member["password"])
    assert expert.get("/api/v1/balance").status_code == 401
    assert company.get("/api/v1/me/offers").status_code == 403
    assert company.get("/api/v1/balance").status_code == 200
    expert.close()
    company.close()


def test_an_offer_made_by_the_worker_arrives_on_the_experts_notification_socket(system):
    """The worker is another process: its broadcast must cross to daphne (fails on main's
    in-memory channel layer without Redis; branch `live` makes it cross)."""
    expert = on_call_expert(system, "safety.bio_risk")
    client = _login(system, expert)

    async def scenario():
        async with connect(system, "/ws/notifications/", client) as socket:
            created = await asyncio.to_thread(
                create_request, system, specialization="safety.bio_risk", title="Pathogen FAQ"
            )
            frame, _ = await recv_until(
                socket,
                lambda f: f["type"] == "notification" and f["notification"]["kind"] == "offer",
                timeout=LIVE_SECONDS + OFFER_SLACK_SECONDS,
            )
            return created, frame

    created, frame = asyncio.run(scenario())
    assert frame["notification"]["title"] == "New offer: Pathogen FAQ"
    assert offer_for(client, created["id"]) is not None
    client.close()
