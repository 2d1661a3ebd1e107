"""The local Stripe test server, exercised through the real ``stripe`` library.

No Django here: these tests pin what the billing tests rely on (Connect,
idempotency, failure controls, signed webhooks).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from tests.stripe_server import LocalStripe, running_localstripe

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalStripe]:
    with running_localstripe(webhook_delay=0.05) as instance:
        yield instance


@pytest.fixture
def client(server: LocalStripe) -> stripe.StripeClient:
    return server.client()


def new_key() -> str:
    return str(uuid.uuid4())


def onboarded_account(server: LocalStripe, client: stripe.StripeClient) -> stripe.Account:
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "expert@example.com",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    server.enable_payouts(account.id)
    return account


def paid_intent(client: stripe.StripeClient, amount: int = 5000) -> stripe.PaymentIntent:
    customer = client.v1.customers.create(params={"email": "company@example.com"})
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"company": "42"},
        }
    )


# -- payments ------------------------------------------------------------------


def test_confirmed_payment_intent_succeeds_and_refunds_are_capped(
    client: stripe.StripeClient,
) -> None:
    intent = paid_intent(client, amount=5000)
    assert intent.status == "succeeded"
    assert intent.metadata["company"] == "42"

    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1500})
    assert (refund.amount, refund.status) == (1500, "succeeded")

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 3501})
    assert refused.value.code == "amount_too_large"

    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 3500


def test_repeated_idempotency_key_replays_payment_intent_and_refund(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create()
    params: stripe.PaymentIntentCreateParams = {
        "amount": 2000,
        "currency": "usd",
        "customer": customer.id,
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    key = new_key()
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    second = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert first.id == second.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"

    refund_key = new_key()
    refund_params: stripe.RefundCreateParams = {"payment_intent": first.id, "amount": 2000}
    refund = client.v1.refunds.create(params=refund_params, options={"idempotency_key": refund_key})
    again = client.v1.refunds.create(params=refund_params, options={"idempotency_key": refund_key})
    assert refund.id == again.id
    assert len(client.v1.refunds.list(params={"payment_intent": first.id}).data) == 1


# -- accounts ------------------------------------------------------------------


def test_account_is_created_retrieved_and_onboarded(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    key = new_key()
    params: stripe.AccountCreateParams = {
        "type": "express",
        "country": "US",
        "email": "expert@example.com",
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {"expert": "7"},
    }
    account = client.v1.accounts.create(params=params, options={"idempotency_key": key})
    assert account.id.startswith("acct_")
    assert account.object == "account"
    assert (account.type, account.email, account.metadata["expert"]) == (
        "express",
        "expert@example.com",
        "7",
    )
    assert not account.payouts_enabled and not account.charges_enabled
    assert not account.details_submitted
    replay = client.v1.accounts.create(params=params, options={"idempotency_key": key})
    assert replay.id == account.id

    server.enable_payouts(account.id)

    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.payouts_enabled and fetched.charges_enabled and fetched.details_submitted
    assert fetched.capabilities is not None
    assert fetched.capabilities["transfers"] == "active"

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.retrieve("acct_missing")


def test_account_link_url_finishes_onboarding_and_redirects(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "refresh_url": "https://inloop.test/payouts/refresh",
            "return_url": "https://inloop.test/payouts/done",
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link"
    assert link.expires_at > link.created
    assert link.url.startswith(server.base_url)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(link.url)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"] == "https://inloop.test/payouts/done"
    assert client.v1.accounts.retrieve(account.id).payouts_enabled


# -- transfers -----------------------------------------------------------------


def test_transfer_needs_an_existing_onboarded_destination(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.transfers.create(
            params={"amount": 100, "currency": "usd", "destination": "acct_missing"}
        )
    assert missing.value.http_status == 400
    assert missing.value.code == "resource_missing"
    assert missing.value.json_body is not None
    assert missing.value.json_body["error"]["type"] == "invalid_request_error"

    pending = client.v1.accounts.create(params={"type": "express", "country": "US"})
    with pytest.raises(stripe.InvalidRequestError) as not_onboarded:
        client.v1.transfers.create(
            params={"amount": 100, "currency": "usd", "destination": pending.id}
        )
    assert not_onboarded.value.code == "insufficient_capabilities_for_transfer"


def test_repeated_idempotency_key_creates_one_transfer(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    account = onboarded_account(server, client)
    params: stripe.TransferCreateParams = {
        "amount": 12345,
        "currency": "usd",
        "destination": account.id,
        "transfer_group": "payout-1",
        "description": "Payout 1",
        "metadata": {"payout": "1"},
    }
    key = "payout-1-attempt-1"
    calls_before = server.calls().get("POST /v1/transfers", 0)

    first = client.v1.transfers.create(params=params, options={"idempotency_key": key})
    second = client.v1.transfers.create(params=params, options={"idempotency_key": key})

    assert first.id == second.id
    assert first.id.startswith("tr_") and first.object == "transfer"
    assert (first.amount, first.amount_reversed, first.currency) == (12345, 0, "usd")
    assert (first.destination, first.reversed) == (account.id, False)
    assert first.metadata["payout"] == "1"
    listed = client.v1.transfers.list(params={"destination": account.id})
    assert [transfer.id for transfer in listed.data] == [first.id]
    assert client.v1.transfers.retrieve(first.id).amount == 12345
    assert server.calls()["POST /v1/transfers"] == calls_before + 2

    # Same key, other parameters: Stripe refuses instead of guessing.
    with pytest.raises(stripe.IdempotencyError):
        client.v1.transfers.create(params={**params, "amount": 1}, options={"idempotency_key": key})


def test_reversal_can_be_partial_and_never_exceeds_what_is_left(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    account = onboarded_account(server, client)
    transfer = client.v1.transfers.create(
        params={"amount": 1000, "currency": "usd", "destination": account.id}
    )

    key = new_key()
    reversal = client.v1.transfers.reversals.create(
        transfer.id,
        params={"amount": 300, "metadata": {"dispute": "3"}},
        options={"idempotency_key": key},
    )
    replay = client.v1.transfers.reversals.create(
        transfer.id,
        params={"amount": 300, "metadata": {"dispute": "3"}},
        options={"idempotency_key": key},
    )
    assert reversal.id == replay.id
    assert reversal.id.startswith("trr_") and reversal.object == "transfer_reversal"
    assert (reversal.amount, reversal.transfer) == (300, transfer.id)

    after = client.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (300, False)

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 701})
    assert too_much.value.json_body is not None
    assert too_much.value.json_body["error"]["type"] == "invalid_request_error"
    assert "message" in too_much.value.json_body["error"]

    rest = client.v1.transfers.reversals.create(transfer.id)  # no amount: the rest
    assert rest.amount == 700
    final = client.v1.transfers.retrieve(transfer.id)
    assert (final.amount_reversed, final.reversed) == (1000, True)
    listed = client.v1.transfers.reversals.list(transfer.id)
    assert [item.id for item in listed.data] == [rest.id, reversal.id]


def test_refuse_reversals_control_makes_reversals_fail(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    account = onboarded_account(server, client)
    transfer = client.v1.transfers.create(
        params={"amount": 1000, "currency": "usd", "destination": account.id}
    )
    server.refuse_reversals(transfer.id)

    key = new_key()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.reversals.create(
            transfer.id, params={"amount": 100}, options={"idempotency_key": key}
        )
    assert refused.value.code == "balance_insufficient"
    assert client.v1.transfers.retrieve(transfer.id).amount_reversed == 0

    server.refuse_reversals(transfer.id, refuse=False)
    # Like Stripe, an executed failure is saved under its key: a retry needs a new key.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(
            transfer.id, params={"amount": 100}, options={"idempotency_key": key}
        )
    ok = client.v1.transfers.reversals.create(
        transfer.id, params={"amount": 100}, options={"idempotency_key": new_key()}
    )
    assert ok.amount == 100


def test_fail_next_transfers_control_makes_creation_fail(
    server: LocalStripe, client: stripe.StripeClient
) -> None:
    account = onboarded_account(server, client)
    params: stripe.TransferCreateParams = {
        "amount": 500,
        "currency": "usd",
        "destination": account.id,
    }
    server.fail_next_transfers(1)

    failed_key = new_key()
    with pytest.raises(stripe.InvalidRequestError) as failed:
        client.v1.transfers.create(params=params, options={"idempotency_key": failed_key})
    assert failed.value.code == "balance_insufficient"
    with pytest.raises(stripe.InvalidRequestError):  # replayed, not retried
        client.v1.transfers.create(params=params, options={"idempotency_key": failed_key})

    transfer = client.v1.transfers.create(params=params, options={"idempotency_key": new_key()})
    assert transfer.amount == 500
    assert len(client.v1.transfers.list(params={"destination": account.id}).data) == 1


# -- webhooks ------------------------------------------------------------------


class WebhookReceiver:
    """A tiny HTTP endpoint on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers["Stripe-Signature"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stripe/webhook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    endpoint = WebhookReceiver()
    yield endpoint
    endpoint.close()


def test_events_are_delivered_signed_and_verifiable(
    receiver: WebhookReceiver,
) -> None:
    # Its own server, so events from other tests cannot interleave.
    with running_localstripe(webhook_delay=0.05) as server:
        client = server.client()
        server.register_webhook(receiver.url, WEBHOOK_SECRET)

        intent = paid_intent(client, amount=2500)
        account = onboarded_account(server, client)
        transfer = client.v1.transfers.create(
            params={"amount": 1000, "currency": "usd", "destination": account.id}
        )
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 400})
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
        server.wait_for_webhooks()

        events = [
            stripe.Webhook.construct_event(body, signature, WEBHOOK_SECRET)
            for body, signature in receiver.received
        ]
        by_type = {event.type: event for event in events}
        assert by_type["payment_intent.succeeded"].data.object["id"] == intent.id
        assert by_type["payment_intent.succeeded"].data.object["amount"] == 2500
        assert by_type["transfer.created"].data.object["id"] == transfer.id
        assert by_type["transfer.reversed"].data.object["amount_reversed"] == 400
        assert by_type["account.updated"].account == account.id
        assert by_type["account.updated"].data.object["payouts_enabled"] is True
        assert by_type["account.updated"].data.previous_attributes["payouts_enabled"] is False
        assert "charge.refunded" in by_type
        # Delivered in the order they happened.
        types = [event.type for event in events]
        assert types.index("payment_intent.succeeded") < types.index("transfer.created")
        assert types.index("transfer.created") < types.index("transfer.reversed")
        assert all(d["status"] == 200 for d in server.webhook_deliveries())

        body, signature = receiver.received[0]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, signature, "whsec_wrong")


# -- bookkeeping ---------------------------------------------------------------


def test_calls_are_counted_per_route_and_reset_clears_everything() -> None:
    with running_localstripe() as server, running_localstripe() as other:
        client = server.client()
        account = onboarded_account(server, client)
        client.v1.accounts.retrieve(account.id)
        client.v1.accounts.retrieve(account.id)

        calls = server.calls()
        assert calls["POST /v1/accounts"] == 1
        assert calls["GET /v1/accounts/{id}"] == 2
        # Instances share nothing.
        with pytest.raises(stripe.InvalidRequestError):
            other.client().v1.accounts.retrieve(account.id)
        assert other.calls() == {"GET /v1/accounts/{id}": 1}

        server.fail_next_transfers(1)
        server.reset()
        assert server.calls() == {}
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.accounts.retrieve(account.id)
        fresh = onboarded_account(server, client)
        transfer = client.v1.transfers.create(  # the failure control was reset too
            params={"amount": 100, "currency": "usd", "destination": fresh.id}
        )
        assert transfer.amount == 100
