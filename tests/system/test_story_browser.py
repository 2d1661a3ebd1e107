"""The whole story in a real browser, against the running processes of the Procfile.

An expert signs up, verifies the email, completes the profile and uploads a credential; an
operator with two-factor authentication verifies it; the expert onboards to Stripe Connect; a
company signs up, invites a colleague, adds funds by card, creates an API key and submits through
the API; the offer appears in the expert's inbox without a reload; the expert reviews in the
workspace while the colleague watches live and submits; the company's receiver gets the signed
webhook; the company disputes the hours, the expert answers, the operator decides a partial
refund; the dispute window passes (the clock moved for the maturing service); the payout run
pays the expert by Transfer. At every step the figures the pages show are compared with the
ledger's entries, and `ledger_check` passes. A full-page screenshot of each page goes to
tests/system/artifacts/.

Stripe is the local Stripe-compatible server (tests/stripe_server.py, with Connect); Stripe.js
cannot load without internet, so card entry uses the test double of tests/e2e/test_funding_e2e.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import time

import httpx
import pytest

from tests.e2e.test_funding_e2e import DOUBLE_CONFIRM, STRIPE_JS, STRIPE_JS_DOUBLE, cents

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000
# Well under the offers page's 60 s fallback poll: the offer must come by the socket.
LIVE_MS = 8_000
PASSWORD = "a-long-Passphrase-42"
WEBHOOK_SECRET = "whsec_story"
EXPERT_EMAIL = "dana@story.test"
OWNER_EMAIL = "cto@northwind.test"
COLLEAGUE_EMAIL = "ml@northwind.test"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"needs Chromium at {CHROMIUM} (make e2e-deps)"
)

LEDGER = """
import json
from django.db.models import Sum
from billing.models import LedgerEntry
rows = LedgerEntry.objects.values(
    "account__kind", "account__organization__name", "account__user__email"
).annotate(total=Sum("amount_cents"))
print(json.dumps([
    [r["account__kind"], r["account__organization__name"] or r["account__user__email"], r["total"]]
    for r in rows
]))
"""


def totp(secret: str) -> str:
    """The code an authenticator app shows now (RFC 6238: SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time() // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"


class Story:
    """The running instance, the browser and what the story has learnt on the way."""

    def __init__(self, system, browser, localstripe, artifacts):
        self.system = system
        self.browser = browser
        self.localstripe = localstripe
        self.artifacts = artifacts
        self.dialogs: list[str] = []

    @property
    def url(self) -> str:
        return self.system.url

    def context(self):
        return self.browser.new_context(viewport={"width": 1280, "height": 900})

    def page(self, context):
        page = context.new_page()

        def on_dialog(dialog):  # our own confirmations: note what they promised, then accept
            self.dialogs.append(dialog.message)
            dialog.accept()

        page.on("dialog", on_dialog)
        return page

    def login(self, email: str, password: str = PASSWORD):
        page = self.page(self.context())
        page.goto(self.url + "/accounts/login/")
        page.fill("input[name=login]", email)
        page.fill("input[name=password]", password)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
        return page

    def shot(self, page, name: str) -> None:
        page.screenshot(path=str(self.artifacts / f"story-{name}.png"), full_page=True)

    def mail_link(self, pattern: str) -> str:
        """The newest link of that shape in the emails (the console email backend's output)."""
        links = re.findall(pattern, self.system.log("web.1"))
        assert links, f"no email with {pattern}"
        return links[-1]

    def sign_up(self, email: str, account_type: str, organization: str = "") -> None:
        page = self.page(self.context())
        page.goto(self.url + "/accounts/signup/")
        page.check(f"input[name=account_type][value={account_type}]")
        if organization:
            page.fill("input[name=organization_name]", organization)
        page.fill("input[name=email]", email)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.click("form.signup-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"), timeout=WAIT_MS)
        page.goto(self.mail_link(r"(http://\S+/accounts/confirm-email/\S+/)"))
        page.click("main form button[type=submit]")
        page.wait_for_selector(f"text=You have confirmed {email}", timeout=WAIT_MS)
        page.context.close()

    def ledger(self) -> dict[tuple[str, str | None], int]:
        rows = json.loads(self.system.manage("shell", "-c", LEDGER).strip().splitlines()[-1])
        return {(kind, owner): total for kind, owner, total in rows}

    def ledger_check(self) -> None:
        """`manage.py ledger_check` exits 1 on any mismatch, which `manage()` raises."""
        self.system.manage("ledger_check")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def story(system_factory, localstripe, browser, artifacts, webhook_receiver):
    system = system_factory(
        extra_env={
            "STRIPE_SECRET_KEY": localstripe.api_key,
            "STRIPE_PUBLISHABLE_KEY": "pk_test_story",
            "STRIPE_API_BASE": localstripe.base_url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    localstripe.register_webhook(system.url + "/stripe/webhook/", WEBHOOK_SECRET)
    try:
        yield Story(system, browser, localstripe, artifacts)
    finally:
        localstripe.wait_for_webhooks()
        localstripe.clear_webhooks()


def expert_joins(story: Story):
    """Sign-up, profile, credential; returns the expert's page (logged in)."""
    story.sign_up(EXPERT_EMAIL, "expert")
    page = story.login(EXPERT_EMAIL)
    page.goto(story.url + "/expert/profile/")
    page.fill("input[name=display_name]", "Dana Story")
    page.fill("input[name=headline]", "Contracts lawyer, 9 years")
    page.fill("input[name=languages]", "en")
    # Under the request's rate cap below, and under every seeded lawyer's rate: the offer is hers.
    page.fill("input[name=hourly_rate]", "15")
    page.fill(
        "textarea[name=bio]", "I review commercial contracts and leases, mostly for startups."
    )
    page.click("form:has(input[name=section][value=basics]) button[type=submit]:not([name])")
    page.wait_for_selector("text=Profile saved", timeout=WAIT_MS)
    page.select_option("select[name=specialization]", "law.contracts")
    page.fill("input[name=years]", "9")
    page.click("form:has(input[name=section][value=specialization]) button[type=submit]")
    page.wait_for_load_state()
    page.click("summary:has-text('Exact times')")  # the grid's text twin, for exact minutes
    for day in range(7):
        page.fill(f"input[name=day_{day}]", "00:00-24:00")
    page.click("form:has(input[name=section][value=availability]) button[type=submit]")
    page.wait_for_selector("text=Weekly availability saved", timeout=WAIT_MS)
    page.select_option("select[name=kind]", "bar_admission")
    page.select_option("select[name=field]", "law")
    page.fill("input[name=issuer]", "State Bar of California")
    page.fill("input[name=number]", "SB-123456")
    page.fill("input[name=jurisdiction]", "US-CA")
    page.set_input_files(
        "input[name=document]",
        files=[{"name": "bar.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}],
    )
    page.click("form:has(input[name=section][value=credential]) button[type=submit]")
    page.wait_for_selector("text=Credential submitted", timeout=WAIT_MS)
    # Law needs a verified credential: until an operator verifies it, no offers.
    assert "a verified credential for law" in page.locator("main").inner_text()
    story.shot(page, "01-expert-profile")
    return page


def operator_verifies(story: Story):
    """The operator turns on two-factor authentication, then verifies the credential."""
    operator = story.system.seed["operator"]
    page = story.login(operator["email"], operator["password"])
    if "/accounts/reauthenticate/" in page.url:
        page.fill("input[name=password]", operator["password"])
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/accounts/2fa/totp/activate/"), timeout=WAIT_MS)
    form = "form[action='/accounts/2fa/totp/activate/']"
    secret = page.locator(f"{form} input[type=text]:not([name=code])").input_value()
    page.fill("input[name=code]", totp(secret))
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("text=Authenticator app activated", timeout=WAIT_MS)
    page.goto(story.url + "/console/credentials/")
    page.click("a:has-text('Dana Story')")
    page.wait_for_selector("text=State Bar of California", timeout=WAIT_MS)
    story.shot(page, "02-console-credential")
    page.click("form[action$='/verify/'] button")
    page.wait_for_selector("text=Verified Bar admission of Dana Story", timeout=WAIT_MS)
    return page


def expert_onboards(story: Story, expert) -> str:
    """Connect onboarding from the earnings page; returns her connected account's id."""
    expert.goto(story.url + "/expert/earnings/")
    expert.click("form[action='/expert/payouts/setup/'] button")
    # The local Stripe's onboarding link completes onboarding and sends her back.
    expert.wait_for_selector("text=Payouts are set up", timeout=WAIT_MS)
    text = expert.locator("main").inner_text()
    assert "Payouts enabled" in text
    return re.search(r"Stripe account (acct_\w+)", text).group(1)


def company_joins(story: Story):
    """Sign-up, a colleague invited, funds added by card, an API key; returns (owner, colleague
    pages, API key)."""
    story.sign_up(OWNER_EMAIL, "company", "Northwind Models")
    owner = story.login(OWNER_EMAIL)
    owner.goto(story.url + "/company/team/")
    owner.fill("input[name=email]", COLLEAGUE_EMAIL)
    owner.click("form:has(input[name=email]) button[type=submit]")
    owner.wait_for_selector(f"text=Invitation sent to {COLLEAGUE_EMAIL}", timeout=WAIT_MS)
    colleague = story.page(story.context())
    colleague.goto(story.mail_link(r"(http://\S+/invitations/\S+/)"))
    colleague.fill("input[name=password1]", PASSWORD + "!")
    colleague.fill("input[name=password2]", PASSWORD + "!")
    colleague.click("main form button[type=submit]")
    colleague.wait_for_selector("text=Welcome to Northwind Models", timeout=WAIT_MS)

    add_funds_by_card(story, owner, "25.00")

    owner.goto(story.url + "/company/api-keys/")
    owner.fill("input[name=name]", "eval pipeline")
    owner.click("main form:has(input[name=name]) button[type=submit]")
    key = owner.locator("#new-key").input_value()
    assert key.startswith("inl_")
    return owner, colleague, key


def add_funds_by_card(story: Story, owner, dollars: str) -> None:
    """The billing page's card payment, with the Stripe.js double answering through the real
    stripe library against the local Stripe (what Stripe's servers do for the Payment Element)."""

    def serve_stripe_js(route):
        route.fulfill(status=200, content_type="application/javascript", body=STRIPE_JS_DOUBLE)

    def confirm(route):
        body = json.loads(route.request.post_data or "{}")
        client = story.localstripe.client()
        intent_id = body["client_secret"].split("_secret_")[0]
        client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
        intent = client.v1.payment_intents.confirm(intent_id)
        route.fulfill(
            status=200,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps({"id": intent.id, "status": intent.status}),
        )

    owner.context.route(STRIPE_JS, serve_stripe_js)
    owner.context.route(DOUBLE_CONFIRM, confirm)
    owner.goto(story.url + "/company/billing/")
    owner.fill("input[name=amount]", dollars)
    owner.click("button:has-text('Continue to card payment')")
    owner.wait_for_selector("#payment-form[data-stripe-state=ready]", timeout=WAIT_MS)
    owner.click("#pay-button")
    owner.wait_for_selector("text=was added to your available balance", timeout=WAIT_MS)
    owner.goto(story.url + "/company/billing/")
    shown = cents(owner.locator("[data-testid=available]").inner_text())
    assert shown == story.ledger()[("company_available", "Northwind Models")] == cents(dollars)
    story.shot(owner, "03-company-billing-funded")


def test_the_whole_story(story, webhook_receiver):
    expert = expert_joins(story)
    operator = operator_verifies(story)
    account = expert_onboards(story, expert)
    owner, colleague, key = company_joins(story)

    # The expert waits on the offers page; the API creates; the offer arrives by the socket.
    expert.goto(story.url + "/expert/offers/")
    expert.wait_for_selector("text=No open offers", timeout=WAIT_MS)
    body = {
        "title": "Lease termination clause",
        "specialization": "law.contracts",
        "content": {
            "type": "text",
            "body": "The tenant may terminate the lease at any time without notice.",
        },
        "max_hours": 0.25,
        "max_hourly_rate_cents": 2000,
        "callback_url": webhook_receiver.url,
    }
    with httpx.Client(base_url=story.url, headers={"Authorization": f"Bearer {key}"}) as api:
        created = api.post("/api/v1/review-requests", json=body)
        assert created.status_code == 201, created.text
        request_id = created.json()["id"]
        expert.wait_for_selector("button:has-text('Accept offer')", timeout=LIVE_MS)
        story.shot(expert, "04-expert-offer-live")
        expert.click("button:has-text('Accept offer')")
        expert.wait_for_url(re.compile(r".*/workspace/[0-9a-f-]+/$"), timeout=WAIT_MS)
        workspace_url = expert.url
        hold_cents = 0.25 * 1500 * 1.2  # max_hours x rate x (1 + fee)
        ledger = story.ledger()
        assert ledger[("company_held", "Northwind Models")] == hold_cents
        assert ledger[("company_available", "Northwind Models")] == 2500 - hold_cents

        # The colleague watches the same workspace live.
        expert.wait_for_selector("body[data-ws-state=connected]", timeout=WAIT_MS)
        colleague.goto(workspace_url)
        colleague.wait_for_selector("body[data-ws-state=connected]", timeout=WAIT_MS)
        colleague.wait_for_function(
            "() => document.getElementById('ws-presence').textContent.includes('expert')",
            timeout=WAIT_MS,
        )
        expert.fill("#ws-chat-body", "Reading the notice section now.")
        expert.press("#ws-chat-body", "Control+Enter")
        colleague.wait_for_selector("#ws-chat li:has-text('notice section')", timeout=WAIT_MS)
        expert.click("h1")
        expert.keyboard.press("1")  # approve
        expert.fill("#ws-summary", "The clause is enforceable as written.")
        colleague.wait_for_selector("[data-verdict=approved][aria-pressed=true]", timeout=WAIT_MS)
        # Until heartbeats have been billed on the server (the workspace beats every 15-30 s).
        story.system.wait_until(
            lambda: (
                api.get(f"/api/v1/review-requests/{request_id}").json()["assignments"][0][
                    "billed_seconds"
                ]
                >= 15
            ),
            timeout=90,
            what="billed time",
        )
        story.shot(expert, "05-workspace-expert")
        story.shot(colleague, "06-workspace-colleague")
        expert.click("#ws-submit")
        expert.click("#ws-confirm-submit")
        colleague.wait_for_function(
            "() => document.getElementById('ws-status').textContent.trim() === 'Submitted'",
            timeout=WAIT_MS,
        )
        completed = api.get(f"/api/v1/review-requests/{request_id}").json()
    assert completed["status"] == "completed"
    billed = completed["assignments"][0]["billed_seconds"]
    cost = completed["cost_cents"]
    assert 0 < billed <= 0.25 * 3600

    # The company's receiver got the webhook of the completion, signed with the secret that
    # the owner reads on the webhooks page.
    owner.goto(story.url + "/company/webhooks/")
    secret = owner.locator("#webhook-secret").input_value()
    headers, raw = webhook_receiver.wait(1, timeout=20)[-1]
    signature = dict(part.split("=", 1) for part in headers["Inloop-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{signature['t']}.".encode() + raw, hashlib.sha256)
    assert hmac.compare_digest(signature["v1"], expected.hexdigest())
    event = json.loads(raw)
    assert (event["type"], event["data"]["id"]) == ("review_request.completed", request_id)

    ledger = story.ledger()
    assert ledger[("company_held", "Northwind Models")] == 0
    assert ledger[("company_available", "Northwind Models")] == 2500 - cost
    story.ledger_check()

    # The company disputes the hours; the expert answers; the operator refunds part.
    owner.goto(f"{story.url}/company/requests/{request_id}/")
    assert cents(owner.locator("#rr-cost").inner_text()) == cost
    story.shot(owner, "07-company-request-completed")
    owner.click("a:has-text('Open a dispute')")
    owner.check("input[name=category][value=hours]")
    owner.fill("textarea[name=description]", "Half of the billed time the tab sat idle.")
    owner.check("input[name=requested_remedy][value=partial_refund]")
    refund_cents = cost // 2
    owner.fill("input[name=requested_amount]", f"{refund_cents / 100:.2f}")
    owner.click("main form button[type=submit]")
    owner.wait_for_selector("text=Dispute opened", timeout=WAIT_MS)
    dispute_path = owner.url.removeprefix(story.url + "/company")
    expert.goto(story.url + "/expert" + dispute_path)
    expert.fill("textarea[name=statement]", "I read the whole lease against the notice section.")
    expert.click("main form button[type=submit]")
    expert.wait_for_selector("text=Your statement is in", timeout=WAIT_MS)
    operator.goto(story.url + "/console" + dispute_path)
    story.shot(operator, "08-console-dispute")
    operator.check("input[name=outcome][value=partial_refund]")
    operator.fill("input[name=amount]", f"{refund_cents / 100:.2f}")
    operator.fill(
        "textarea[name=note]", "Half of the time refunded: the log shows a long idle gap."
    )
    operator.click("main form:has(input[name=outcome]) button[type=submit]")
    operator.wait_for_load_state()
    ledger = story.ledger()
    assert ledger[("company_available", "Northwind Models")] == 2500 - cost + refund_cents
    story.ledger_check()

    # The dispute window passes (the maturing service runs with the clock moved past it), then
    # the payout run pays her by Stripe Transfer.
    story.system.manage(
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone; "
        "from billing.services import earnings_mature_due; "
        "print(earnings_mature_due(now=timezone.now() + timedelta(days=30)))",
    )
    earned = story.ledger()[("expert_available", EXPERT_EMAIL)]
    assert earned > 0
    story.system.manage("run_payouts", "--minimum-cents", "1")
    story.system.wait_until(
        lambda: story.ledger().get(("expert_paid_out", EXPERT_EMAIL)) == earned,
        what="the payout in the ledger",
    )
    # The local Stripe is shared with this worker's other tests: her account's transfers only.
    transfers = story.localstripe.client().v1.transfers.list(params={"limit": 100}).data
    assert [t.amount for t in transfers if t.destination == account] == [earned]
    expert.goto(story.url + "/expert/earnings/")
    story.shot(expert, "09-expert-earnings-paid")
    story.ledger_check()
