"""An expert takes a qualification over the running processes (issue #20): the test is set up
(an operator's console does the same through experts.golden), the expert sees its cap and pay
on their page, starts it over HTTP with a CSRF token, works the golden item in the real
workspace over WebSocket (server-measured time), submits, and is qualified: the platform paid,
the company was never charged, and a company request in that specialization now reaches them."""

from __future__ import annotations

import asyncio
import json

from tests.system.flows import (
    connect,
    create_request,
    on_call_expert,
    recv_json,
    recv_until,
    shell,
    wait_offer,
)

SPECIALIZATION = "law.privacy"

SETUP = """
from decimal import Decimal
from experts.models import GoldenItem, QualificationTest, Specialization
spec = Specialization.objects.get(slug={slug!r})
item = GoldenItem.objects.create(
    specialization=spec, title="Is this cookie banner lawful?", content_type="text",
    content={{"type": "text", "body": "We set tracking cookies before you click accept."}},
    rubric=[{{"key": "accuracy", "label": "Accuracy", "scale": 5}}],
    expected_verdict="rejected", expected_scores={{"accuracy": 2}}, tolerance=1,
    max_hours=Decimal("0.25"),
)
test = QualificationTest.objects.create(specialization=spec, pass_threshold=1.0, live_rate=0)
test.items.set([item])
print(test.pk)
"""

MONEY = """
import json
from billing import ledger
from billing.models import Earning
e = Earning.objects.get(user__email={email!r}, organization__slug="inloop-platform")
print(json.dumps(dict(payer=e.payer, amount=e.amount_cents, fee=e.fee_cents,
    org=e.organization.slug, quality=ledger.balance("platform_quality"))))
"""


def _company_balance(system) -> dict:
    with system.api() as api:
        return api.get("/api/v1/balance").json()


async def _work_and_submit(system, client, assignment_id: str) -> dict:
    async with connect(system, f"/ws/assignments/{assignment_id}/", client) as socket:
        snapshot = await recv_json(socket)
        assert snapshot["type"] == "snapshot"
        await socket.send(json.dumps({"type": "heartbeat"}))
        await recv_until(socket, lambda f: f["type"] == "time")
        await asyncio.sleep(2)
        await socket.send(json.dumps({"type": "heartbeat"}))
        await recv_until(socket, lambda f: f["type"] == "time")
        await socket.send(
            json.dumps({"type": "draft.update", "verdict": "rejected", "scores": {"accuracy": 3}})
        )
        await recv_until(socket, lambda f: f["type"] == "event")
        await socket.send(json.dumps({"type": "submit"}))
        submitted, _ = await recv_until(
            socket, lambda f: f["type"] == "event" and f["event"]["kind"] == "submitted"
        )
        return submitted["event"]


def test_an_expert_takes_and_passes_a_paid_qualification(system):
    test_pk = int(shell(system, SETUP.format(slug=SPECIALIZATION)))
    expert = on_call_expert(system, SPECIALIZATION)
    client = system.login(expert["email"], expert["password"])

    company_before = _company_balance(system)
    page = client.get("/expert/qualifications/")
    assert page.status_code == 200, page.text[:500]
    assert "15 min" in page.text  # the cap, shown before starting
    assert "paid at" in page.text and "by Inloop" in page.text

    started = client.post(
        f"/expert/qualifications/{test_pk}/start/", headers=system.csrf_headers(client)
    )
    assert started.status_code == 302, started.text[:500]
    # The item was accepted for them: it is among their assignments, with a workspace.
    find = (
        "from review_requests.models import Assignment; print(Assignment.objects.get("
        f"expert__user__email={expert['email']!r}, review_request__is_golden=True).pk)"
    )
    assignment_id = shell(system, find)
    assert f"/workspace/{assignment_id}/" in client.get("/expert/assignments/").text
    event = asyncio.run(_work_and_submit(system, client, assignment_id))
    assert event["billed_seconds"] >= 1
    assert event["cost_cents"] == 0  # no company pays for it

    page = system.wait_until(
        lambda: "Qualified" in (text := client.get("/expert/qualifications/").text) and text,
        what="the qualification to pass",
    )
    assert "since" in page

    money = json.loads(shell(system, MONEY.format(email=expert["email"])))
    assert money["payer"] == "platform" and money["fee"] == 0
    assert money["amount"] > 0 and money["quality"] == -money["amount"]
    assert money["org"] == "inloop-platform"
    assert _company_balance(system) == company_before

    # Qualified: a company request in this specialization reaches them.
    created = create_request(system, specialization=SPECIALIZATION, title="Privacy policy check")
    offer = wait_offer(system, client, created["id"])
    assert offer["review_request"]["title"] == "Privacy policy check"
    client.close()
