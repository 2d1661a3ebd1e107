"""An expert takes a qualification over the running processes (issue #20): the test is set up
(an operator's console does the same through experts.golden), the expert sees its cap and pay
on their page, starts it over HTTP with a CSRF token, works the golden item in the real
workspace over WebSocket (server-measured time), submits, and is qualified: the platform paid,
the company was never charged, and a company request in that specialization now reaches them.

And the open points of issue #20 over the same processes: a live golden offer declined over the
API reaches one other expert through the worker (once, however often the decline is sent), who
works it with the platform paying; an operator with two-factor authentication lifts a pause in
the console (a resubmitted POST changes nothing) and the expert reads why and how; a company
marks a completed request as a golden item over the API and with the Python client, and lists
its pool. Each test keeps to a specialization of its own, so they run in any order."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import struct
import time
import uuid

import inloop

from tests.system.flows import (
    accept,
    connect,
    create_request,
    offer_for,
    on_call_expert,
    recv_json,
    recv_until,
    shell,
    take_assignment,
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


# A live golden offer that lapses: one other expert, through the worker -----------------------

LIVE_SPECIALIZATION = "law.contracts"

SECOND_EXPERT = """
from experts.match_index import match_rows_refresh
from experts.models import ExpertProfile, ExpertSpecialization, Specialization
p = ExpertProfile.objects.get(user__email={email!r})
ExpertSpecialization.objects.get_or_create(
    expert=p, specialization=Specialization.objects.get(slug={slug!r}), defaults={{"years": 5}})
ExpertProfile.objects.filter(pk=p.pk).update(always_available=True, accepting_work=True)
match_rows_refresh(expert_ids=[p.pk])
"""

LIVE_GOLDEN = """
from decimal import Decimal
from django.db import transaction
from experts.models import ExpertProfile, GoldenItem, Specialization
from marketplace.models import Organization
from review_requests.golden import golden_request_put
item = GoldenItem.objects.create(
    specialization=Specialization.objects.get(slug={slug!r}), title="Is this clause enforceable?",
    content_type="text", content={{"type": "text", "body": "The tenant may never terminate."}},
    rubric=[{{"key": "accuracy", "label": "Accuracy", "scale": 5}}],
    expected_verdict="rejected", expected_scores={{"accuracy": 2}}, tolerance=1,
    max_hours=Decimal("0.25"),
)
with transaction.atomic():
    offer = golden_request_put(
        item=item, expert=ExpertProfile.objects.get(user__email={email!r}),
        for_organization=Organization.objects.get(pk={org!r}),
    )
print(offer.review_request_id)
"""

GOLDEN_OFFERS = """
import json
from review_requests.models import Offer
print(json.dumps(sorted(
    [o.expert.user.email, o.status] for o in Offer.objects.filter(review_request_id={rr!r})
)))
"""

GOLDEN_MONEY = """
import json
from billing.models import Earning
e = Earning.objects.get(user__email={email!r}, organization__slug="inloop-platform")
print(json.dumps(dict(payer=e.payer, fee=e.fee_cents, amount=e.amount_cents)))
"""


def _second_expert(system, specialization: str) -> dict:
    """A seeded law expert who is not on call, made available now in `specialization`."""
    first = on_call_expert(system, specialization)
    field = specialization.split(".")[0] + "."
    second = next(
        e
        for e in system.seed["experts"]
        if e["email"] != first["email"]
        and not e["always_available"]
        and any(s.startswith(field) for s in e["specializations"])
    )
    shell(system, SECOND_EXPERT.format(email=second["email"], slug=specialization))
    return second


def test_a_declined_golden_offer_reaches_one_other_expert_and_no_company_pays(system):
    first = on_call_expert(system, LIVE_SPECIALIZATION)
    _second_expert(system, LIVE_SPECIALIZATION)  # so that someone else is eligible now
    company_before = _company_balance(system)
    rr_id = shell(
        system,
        LIVE_GOLDEN.format(
            slug=LIVE_SPECIALIZATION, email=first["email"], org=system.seed["company"]["id"]
        ),
    )
    first_client = system.login(first["email"], first["password"])
    offer = offer_for(first_client, rr_id)
    assert offer is not None, "the golden item is among the first expert's offers"
    for _ in range(2):  # a double click: the second decline changes nothing
        declined = first_client.post(
            f"/api/v1/offers/{offer['id']}/decline", headers=system.csrf_headers(first_client)
        )
        assert declined.status_code == 200, declined.text

    # The worker's matching task offers it to the best-ranked eligible expert (the one made
    # available above, or a seeded law expert whose hours are now): exactly one.
    offers = system.wait_until(
        lambda: (
            len(found := json.loads(shell(system, GOLDEN_OFFERS.format(rr=rr_id)))) > 1 and found
        ),
        timeout=30,
        what="the golden item's offer to another expert",
    )
    time.sleep(2)  # room for a second matching task, had there been one
    assert json.loads(shell(system, GOLDEN_OFFERS.format(rr=rr_id))) == offers
    [taker] = [email for email, status in offers if status == "open"]
    assert offers == sorted([[first["email"], "declined"], [taker, "open"]])
    second = next(e for e in system.seed["experts"] if e["email"] == taker)
    second_client = system.login(second["email"], second["password"])
    reoffer = wait_offer(system, second_client, rr_id)

    accepted = accept(system, second_client, reoffer["id"])
    assert accepted.status_code == 200, accepted.text
    event = asyncio.run(_work_and_submit(system, second_client, accepted.json()["assignment_id"]))
    assert event["cost_cents"] == 0
    money = json.loads(shell(system, GOLDEN_MONEY.format(email=second["email"])))
    assert money["payer"] == "platform" and money["fee"] == 0 and money["amount"] > 0
    assert _company_balance(system) == company_before
    first_client.close()
    second_client.close()


# An operator lifts a pause in the console ----------------------------------------------------

PAUSED_SPECIALIZATION = "medicine.radiology"

PAUSE = """
from django.utils import timezone
from experts.models import ExpertProfile, Specialization, SpecializationStanding
s = SpecializationStanding.objects.create(
    expert=ExpertProfile.objects.get(user__email={email!r}),
    specialization=Specialization.objects.get(slug={slug!r}),
    golden_correct=2, golden_total=10, suspended_at=timezone.now(),
    suspended_reason="Your accuracy on golden items in Radiology is 20% over 10 items.",
)
print(s.pk)
"""

LIFTED = """
import json
from experts.models import SpecializationStanding
from marketplace.models import AuditLog
s = SpecializationStanding.objects.get(pk={pk})
print(json.dumps(dict(paused=s.suspended_at is not None, total=s.golden_total,
    audits=AuditLog.objects.filter(action="golden.pause_lifted", object_id=str(s.pk)).count())))
"""


def _totp(secret: str) -> str:
    """The code an authenticator app shows now (RFC 6238: SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time() // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"


def _operator_with_mfa(system):
    """The seeded operator, logged in, turns on an authenticator app over HTTP (the console
    asks for it)."""
    operator = system.seed["operator"]
    client = system.login(operator["email"], operator["password"])
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page.text[:500]
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page.text)
    if secret is None:
        secret = re.search(r'value="([A-Z2-7]{16,})"[^>]*id="authenticator_secret"', page.text)
    assert secret, "the activation page shows the secret"
    done = client.post(
        "/accounts/2fa/totp/activate/",
        data={"code": _totp(secret.group(1))},
        headers=system.csrf_headers(client),
    )
    assert done.status_code == 302, done.text[:500]
    return client


def test_an_operator_lifts_a_pause_and_a_resubmitted_post_changes_nothing(system):
    expert = on_call_expert(system, PAUSED_SPECIALIZATION)
    pk = int(shell(system, PAUSE.format(email=expert["email"], slug=PAUSED_SPECIALIZATION)))
    expert_client = system.login(expert["email"], expert["password"])
    page = expert_client.get("/expert/qualifications/").text
    assert "Why offers in Radiology are paused" in page and "20% over 10 items" in page
    assert "has no qualification test to take right now" in page

    operator = _operator_with_mfa(system)
    console = operator.get("/console/golden/")
    assert console.status_code == 200, console.text[:500]
    action = f"/console/golden/standings/{pk}/lift/"
    assert f'action="{action}"' in console.text and "data-confirm=" in console.text
    for _ in range(2):  # the second is the browser resubmitting the POST
        lifted = operator.post(
            action,
            data={"reason": "The radiology items had a wrong answer key."},
            headers=system.csrf_headers(operator),
        )
        assert (lifted.status_code, lifted.headers["location"]) == (302, "/console/golden/")
        answer = operator.get("/console/golden/").text
    assert "is not paused in Radiology" in answer
    assert json.loads(shell(system, LIFTED.format(pk=pk))) == {
        "paused": False,
        "total": 0,
        "audits": 1,
    }
    page = expert_client.get("/expert/qualifications/").text
    assert "Why offers in Radiology are paused" not in page
    notices = expert_client.get("/notifications/").text
    assert "Offers in Radiology resumed" in notices and "wrong answer key" in notices
    operator.close()
    expert_client.close()


# A company marks a completed request as a golden item over the API ---------------------------

MARKED_SPECIALIZATION = "software.databases"
RUBRIC = [{"key": "accuracy", "label": "Accuracy", "scale": 5}]


def test_a_company_marks_a_completed_request_golden_and_lists_its_pool(system):
    assignment_id, client, created = take_assignment(
        system, MARKED_SPECIALIZATION, title="Is this SQL safe?", rubric=RUBRIC
    )
    asyncio.run(_work_and_submit(system, client, assignment_id))
    with system.api() as api:
        system.wait_until(
            lambda: (
                api.get(f"/api/v1/review-requests/{created['id']}").json()["status"] == "completed"
            ),
            what="the request to complete",
        )
        not_found = api.post(f"/api/v1/review-requests/{uuid.uuid4()}/golden", json={})
        assert not_found.status_code == 404
        bad = api.post(f"/api/v1/review-requests/{created['id']}/golden", json={"tolerance": 11})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "tolerance"
        marked = api.post(f"/api/v1/review-requests/{created['id']}/golden", json={"tolerance": 1})
        assert marked.status_code == 201, marked.text
        item = marked.json()
        assert item["expected_verdict"] == "rejected" and item["expected_scores"] == {
            "accuracy": 3.0
        }
        again = api.post(f"/api/v1/review-requests/{created['id']}/golden", json={})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_golden"
        listed = api.get("/api/v1/golden-items?limit=100").json()
        assert item["id"] in [i["id"] for i in listed["data"]]

    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as sdk:
        # A retry whose first answer was lost gets 409 already_golden and finds its own item.
        assert sdk.review_requests.mark_golden(created["id"]).id == item["id"]
        assert any(i.title == "Is this SQL safe?" for i in sdk.golden_items.list())
    client.close()
