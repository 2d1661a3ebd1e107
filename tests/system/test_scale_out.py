"""Scaled out as the README says: PostgreSQL, Redis, two daphnes and two workers. What one
process does reaches the others; two payout runs at once pay nobody twice. (A worker killed
mid-task: test_worker_killed.py, on both backends.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.system.conftest import ROOT, run_system
from tests.system.flows import (
    company_member,
    connect,
    create_request,
    events,
    is_event,
    on_call_expert,
    paused,
    recv_json,
    recv_until,
    shell,
    take_assignment,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    """Two daphnes, two workers. Earnings are available at once and any amount is paid out,
    so the payout race needs only a few seconds of billed time."""
    with run_system(
        tmp_path_factory.mktemp("scaled"),
        counts={"web": 2, "worker": 2},
        extra_env={"DISPUTE_WINDOW_HOURS": "0", "PAYOUT_MINIMUM_CENTS": "1"},
    ) as instance:
        yield instance


def run(coroutine, timeout: float = 90):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_a_request_created_through_one_daphne_is_read_through_the_other(scaled):
    first, second = scaled.urls
    with scaled.api(url=first) as one:
        created = one.post(
            "/api/v1/review-requests",
            json={
                "title": "Across processes",
                "specialization": "law.contracts",
                "content": {"type": "text", "body": "Clause 4."},
                "max_hours": 0.5,
            },
        ).json()
    with scaled.api(url=second) as other:
        fetched = other.get(f"/api/v1/review-requests/{created['id']}")
        listed = other.get("/api/v1/review-requests", params={"limit": 100}).json()["data"]
    assert fetched.status_code == 200
    assert fetched.json()["title"] == "Across processes"
    assert created["id"] in [rr["id"] for rr in listed]


def test_workspace_events_sent_to_one_daphne_arrive_in_order_on_the_other(scaled):
    assignment_id, expert, _ = take_assignment(scaled, "software.python")
    member_login = company_member(scaled)
    member = scaled.login(member_login["email"], member_login["password"], url=scaled.urls[1])
    path = f"/ws/assignments/{assignment_id}/"
    web1, web2 = scaled.ws_urls()
    count = 30

    async def scenario():
        async with (
            connect(scaled, path, expert, url=web1) as on_one,
            connect(scaled, path, member, url=web2) as on_two,
        ):
            start = (await recv_json(on_one))["seq"]
            await recv_json(on_two)
            for index in range(count):
                await on_one.send(json.dumps({"type": "chat.message", "body": f"e{index}"}))
            _, seen_on_two = await recv_until(
                on_two, lambda f: f.get("type") == "event" and f["event"]["body"] == f"e{count - 1}"
            )
            await on_two.send(json.dumps({"type": "chat.message", "body": "from two"}))
            back, _ = await recv_until(on_one, _body("from two"))
            return start, events(seen_on_two), back

    start, arrived, back = run(scenario())
    assert [frame["seq"] for frame in arrived] == list(range(start + 1, start + count + 1))
    assert [frame["event"]["body"] for frame in arrived] == [f"e{i}" for i in range(count)]
    assert back["seq"] == start + count + 1
    expert.close()
    member.close()


def _body(text: str):
    return lambda frame: frame.get("type") == "event" and frame["event"].get("body") == text


def test_an_offer_made_by_either_worker_reaches_sockets_on_both_daphnes(scaled):
    expert = on_call_expert(scaled, "safety.bio_risk")
    client = scaled.login(expert["email"], expert["password"])

    def offer_titled(title):
        return lambda f: f["type"] == "notification" and f["notification"]["title"] == title

    async def scenario():
        web1, web2 = scaled.ws_urls()
        async with (
            connect(scaled, "/ws/notifications/", client, url=web1) as one,
            connect(scaled, "/ws/notifications/", client, url=web2) as two,
        ):
            arrived = {}
            for working, idle in (("worker.1", "worker.2"), ("worker.2", "worker.1")):
                title = f"Made by {working}"
                with paused(scaled, idle):
                    await asyncio.to_thread(
                        create_request, scaled, specialization="safety.bio_risk", title=title
                    )
                    for name, socket in (("web.1", one), ("web.2", two)):
                        await recv_until(socket, offer_titled(f"New offer: {title}"), timeout=15)
                        arrived[(working, name)] = True
            return arrived

    arrived = run(scenario())
    assert set(arrived) == {(w, d) for w in ("worker.1", "worker.2") for d in ("web.1", "web.2")}
    client.close()


def test_two_payout_runs_at_once_pay_each_expert_once(scaled):
    experts = []
    for specialization in ("finance.tax", "engineering.civil"):
        assignment_id, client, _ = take_assignment(scaled, specialization)
        experts.append(on_call_expert(scaled, specialization)["email"])

        async def review(assignment_id=assignment_id, client=client):
            async with connect(scaled, f"/ws/assignments/{assignment_id}/", client) as socket:
                await recv_json(socket)
                await socket.send(json.dumps({"type": "heartbeat"}))
                await asyncio.sleep(5)
                await socket.send(json.dumps({"type": "heartbeat"}))
                await socket.send(json.dumps({"type": "draft.update", "verdict": "approved"}))
                await socket.send(json.dumps({"type": "submit"}))
                await recv_until(socket, is_event("submitted"))

        run(review())
        client.close()

    runs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_payouts"],
            cwd=ROOT,
            env=scaled.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    payouts = json.loads(
        shell(
            scaled,
            "import json; from billing.models import Payout; print(json.dumps(list("
            "Payout.objects.values('user__email', 'amount_cents', 'status'))))",
        )
    )
    by_expert = {email: [p for p in payouts if p["user__email"] == email] for email in experts}
    assert all(len(paid) == 1 for paid in by_expert.values()), (by_expert, outputs)
    assert all(paid[0]["amount_cents"] > 0 for paid in by_expert.values())
    # Without Stripe keys the money moves in the ledger and the payout waits for Stripe.
    assert {p["status"] for p in payouts} == {"awaiting_stripe"}
    assert "payouts created" in scaled.manage("run_payouts")
    assert len(json.loads(shell(scaled, PAYOUT_COUNT))) == len(payouts), "a rerun pays none"
    scaled.manage("ledger_check")


PAYOUT_COUNT = (
    "import json; from billing.models import Payout; "
    "print(json.dumps(list(Payout.objects.values_list('pk', flat=True))))"
)
