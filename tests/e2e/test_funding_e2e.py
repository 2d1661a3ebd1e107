"""In a real browser: the "Add funds" pages and static/js/funding.js.

What is real and what is not: this machine has no internet, so Stripe's own Stripe.js
(https://js.stripe.com/v3/, the Payment Element) cannot load, and localstripe's stand-in script
only knows the older Card Element. The test therefore serves, in place of Stripe.js, a small
test double of the three calls funding.js makes (`Stripe()`, `elements().create("payment")
.mount()`, `confirmPayment()`); its confirm is answered by this test through the real `stripe`
library against the local Stripe server (the step Stripe's servers take for the Payment
Element), then it redirects to our return URL as Stripe.js does. Everything else is ours and
real: the forms and their confirmations, funding.js, the PaymentIntent our server creates, the
signed `payment_intent.succeeded` webhook the local Stripe posts to our endpoint, the worker
that credits the balance, and the pages that show it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.test_workspace_e2e import login

pytestmark = pytest.mark.e2e
WAIT_MS = 15_000
STRIPE_JS = "https://js.stripe.com/v3/"
# Where the double confirms: Stripe.js itself calls api.stripe.com, which the page's CSP allows.
DOUBLE_CONFIRM = "https://api.stripe.com/__test_double__/confirm"
DECLINED_CARD = "4000000000000341"  # attaches, then the charge is declined

# The part of Stripe.js that funding.js uses, and nothing more.
STRIPE_JS_DOUBLE = """
window.Stripe = function (publishableKey) {
  const state = { publishableKey: publishableKey, clientSecret: null };
  window.__stripeDouble = state;
  return {
    elements: function (options) {
      state.clientSecret = options.clientSecret;
      return {
        create: function (type) {
          state.elementType = type;
          return {
            mount: function (container) {
              const label = document.createElement("label");
              label.textContent = "Card number (Stripe.js test double) ";
              const input = document.createElement("input");
              input.id = "double-card";
              input.value = "4242424242424242";
              label.appendChild(input);
              container.appendChild(label);
            },
          };
        },
      };
    },
    confirmPayment: async function (args) {
      const response = await fetch("__CONFIRM_URL__", {
        method: "POST",
        body: JSON.stringify({
          client_secret: state.clientSecret,
          card: document.getElementById("double-card").value,
        }),
      });
      const body = await response.json();
      if (body.error) return { error: body.error };
      const back = new URL(args.confirmParams.return_url);
      back.searchParams.set("payment_intent", body.id);
      back.searchParams.set("payment_intent_client_secret", state.clientSecret);
      back.searchParams.set("redirect_status", "succeeded");
      window.location.assign(back.toString());
      return new Promise(function () {});
    },
  };
};
""".replace("__CONFIRM_URL__", DOUBLE_CONFIRM)


def cents(text: str) -> int:
    dollars, _, rest = text.strip().lstrip("$").replace(",", "").partition(".")
    return int(dollars) * 100 + int((rest or "0")[:2].ljust(2, "0"))


def company_page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    member = server.seed["company"]["members"][0]
    page = login(context, server.url, member["email"], member["password"])
    page.on("dialog", lambda dialog: dialog.accept())  # our own "Pay $25.00 by card?"
    return context, page


def start_top_up(page, server, dollars: str) -> int:
    page.goto(server.url + "/company/billing/")
    page.fill("input[name=amount]", dollars)
    page.click("button:has-text('Continue to card payment')")
    page.wait_for_url(re.compile(r".*/company/billing/funding/\d+/$"), timeout=WAIT_MS)
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_without_stripe_keys_the_page_says_card_funding_is_not_configured(
    live_server_daphne, browser, artifacts
):
    context, page = company_page(browser, live_server_daphne)
    try:
        page.goto(live_server_daphne.url + "/company/billing/")
        notice = page.locator("#add-funds-h + p[role=status]")
        assert notice.is_visible()
        assert "Card funding is not configured on this server" in notice.inner_text()
        assert page.locator("button:has-text('Continue to card payment')").count() == 0
        assert page.locator("input[name=amount]").count() == 0
        page.screenshot(path=str(artifacts / "funding-not-configured.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def stripe_page(live_server_stripe, stripe_webhooks_to_live_server, browser, localstripe):
    """A company member's page whose Stripe.js is the test double; yields (page, confirms)."""
    confirms: list[dict] = []

    def serve_stripe_js(route):
        route.fulfill(status=200, content_type="application/javascript", body=STRIPE_JS_DOUBLE)

    def confirm(route):
        """What Stripe's servers do when the Payment Element confirms: the real stripe library
        against the local Stripe server (a card whose charge is declined for DECLINED_CARD)."""
        import stripe

        body = json.loads(route.request.post_data or "{}")
        confirms.append(body)
        intent_id = body["client_secret"].split("_secret_")[0]
        method = "pm_card_chargeCustomerFail" if body["card"] == DECLINED_CARD else "pm_card_visa"
        client = localstripe.client()
        try:
            client.v1.payment_intents.update(intent_id, params={"payment_method": method})
            intent = client.v1.payment_intents.confirm(intent_id)
            answer = {"id": intent.id, "status": intent.status}
        except stripe.StripeError as error:
            answer = {"error": {"type": "card_error", "message": error.user_message or str(error)}}
        route.fulfill(
            status=200,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps(answer),
        )

    context, page = company_page(browser, live_server_stripe)
    context.route(STRIPE_JS, serve_stripe_js)
    context.route(DOUBLE_CONFIRM, confirm)
    try:
        yield page, confirms
    finally:
        context.close()


def test_a_card_top_up_is_credited_after_the_webhook(
    live_server_stripe, stripe_page, localstripe, artifacts
):
    server = live_server_stripe
    page, confirms = stripe_page
    page.goto(server.url + "/company/billing/")
    before = cents(page.locator("[data-testid=available]").inner_text())

    funding_id = start_top_up(page, server, "25.00")
    ((intent_id, status, secret),) = server.query(
        "SELECT stripe_payment_intent_id, status, client_secret FROM billing_funding WHERE id = ?",
        (funding_id,),
    )
    assert intent_id.startswith("pi_") and status == "processing"
    intent = localstripe.client().v1.payment_intents.retrieve(intent_id)
    assert (intent.amount, intent.status) == (2_500, "requires_payment_method")
    assert intent.metadata["funding_id"] == str(funding_id)

    # funding.js mounted the (double's) Payment Element with our intent's client secret.
    page.wait_for_selector("#payment-form[data-stripe-state=ready]", timeout=WAIT_MS)
    assert page.evaluate("window.__stripeDouble.clientSecret") == secret
    assert page.evaluate("window.__stripeDouble.publishableKey") == "pk_test_e2e"
    assert page.evaluate("window.__stripeDouble.elementType") == "payment"
    assert page.locator("text=Loading the secure card form").count() == 0

    # Pay: Stripe redirects back, and the page waits for the webhook by itself.
    page.click("#pay-button")
    page.wait_for_url(re.compile(r".*redirect_status=succeeded.*"), timeout=WAIT_MS)
    page.wait_for_selector("text=was added to your available balance", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts / "funding-paid.png"), full_page=True)
    assert len(confirms) == 1

    ((status,),) = server.query("SELECT status FROM billing_funding WHERE id = ?", (funding_id,))
    assert status == "succeeded"
    credits = server.query(
        "SELECT amount_cents FROM billing_ledgerentry e "
        "JOIN billing_ledgertransaction t ON e.transaction_id = t.id "
        "JOIN billing_ledgeraccount a ON e.account_id = a.id "
        "WHERE t.ref = ? AND a.kind = 'company_available'",
        (intent_id,),
    )
    assert credits == [(2_500,)]  # one credit, by the verified webhook

    page.goto(server.url + "/company/billing/")
    assert cents(page.locator("[data-testid=available]").inner_text()) == before + 2_500
    assert page.locator("table tr:has-text('$25.00')").count() >= 1


def test_a_declined_card_is_said_next_to_the_form_and_credits_nothing(
    live_server_stripe, stripe_page, artifacts
):
    """(localstripe cannot confirm a PaymentIntent again after a declined charge, which real
    Stripe allows, so the retry with another card is not exercised here.)"""
    server = live_server_stripe
    page, confirms = stripe_page
    funding_id = start_top_up(page, server, "14.00")
    page.wait_for_selector("#payment-form[data-stripe-state=ready]", timeout=WAIT_MS)
    page.fill("#double-card", DECLINED_CARD)
    page.click("#pay-button")
    page.wait_for_selector("#payment-error:not([hidden])", timeout=WAIT_MS)
    assert "Your card was declined." in page.locator("#payment-error").inner_text()
    assert page.locator("#pay-button").is_enabled()
    assert page.locator("#pay-button").get_attribute("aria-busy") is None
    assert len(confirms) == 1
    page.screenshot(path=str(artifacts / "funding-declined.png"), full_page=True)
    # Stripe's payment_intent.payment_failed webhook marks the top-up failed; nothing credited.
    server.wait_for(
        "SELECT 1 FROM billing_funding WHERE id = ? AND status = 'failed'", (funding_id,)
    )
    ((intent_id,),) = server.query(
        "SELECT stripe_payment_intent_id FROM billing_funding WHERE id = ?", (funding_id,)
    )
    assert server.query("SELECT 1 FROM billing_ledgertransaction WHERE ref = ?", (intent_id,)) == []
    page.reload()
    assert "declined" in page.locator("dl.kv").inner_text().lower()


def test_when_stripe_js_cannot_load_the_page_says_so(live_server_stripe, browser, artifacts):
    server = live_server_stripe
    context, page = company_page(browser, server)
    try:
        context.route(STRIPE_JS, lambda route: route.abort("internetdisconnected"))
        funding_id = start_top_up(page, server, "12.00")
        page.wait_for_selector("#payment-form[data-stripe-state=unavailable]", timeout=WAIT_MS)
        error = page.locator("#payment-error")
        assert error.is_visible()
        assert "could not be loaded from Stripe" in error.inner_text()
        assert "Nothing has been charged" in error.inner_text()
        assert page.locator("#pay-button").is_disabled()
        assert page.locator("text=Loading the secure card form").count() == 0
        page.screenshot(path=str(artifacts / "funding-stripe-unreachable.png"), full_page=True)
        ((status,),) = server.query(
            "SELECT status FROM billing_funding WHERE id = ?", (funding_id,)
        )
        assert status == "processing"  # an intent waiting for a card, nothing credited
    finally:
        context.close()
