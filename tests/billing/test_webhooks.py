"""The Stripe webhook endpoint: signatures on the raw body, one credit per PaymentIntent however
often or in whatever order events arrive, Connect and transfer events, backfill."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import ledger, payouts, services, stripe_gateway
from billing.models import Earning, Funding, LedgerAccount, Payout, StripeEvent
from tests.billing.support import (
    event_payload,
    post_event,
)
from tests.factories import CreditGrantFactory, EarningFactory, FundingFactory

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


def start_funding(organization, company_member, cents=5000) -> Funding:
    return services.funding_start(
        organization=organization, amount_cents=cents, actor=company_member
    )


def pay(funding: Funding) -> dict:
    """The card payment the Payment Element would make, done against LocalStripe."""
    return confirm(funding.stripe_payment_intent_id).to_dict()


def confirm(intent_id: str):
    client = stripe_gateway.client()
    client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    intent = client.v1.payment_intents.confirm(intent_id)
    assert intent.status == "succeeded"
    return intent


def test_succeeded_webhook_ten_times_credits_once(
    stripe_on, client, organization, company_member, django_capture_on_commit_callbacks
):
    funding = start_funding(organization, company_member, 5000)
    assert funding.stripe_payment_intent_id.startswith("pi_")
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0
    event = event_payload("payment_intent.succeeded", pay(funding))

    with django_capture_on_commit_callbacks(execute=True):
        answers = [post_event(client, event).status_code for _ in range(10)]

    assert answers == [200] * 10
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 5000
    assert ledger.balance(Kind.PLATFORM_STRIPE_CLEARING) == -5000
    assert StripeEvent.objects.get().processed_at is not None
    funding.refresh_from_db()
    assert funding.status == Funding.Status.SUCCEEDED


def test_two_events_for_one_intent_credit_once(
    stripe_on, client, organization, company_member, django_capture_on_commit_callbacks
):
    funding = start_funding(organization, company_member, 2500)
    intent = pay(funding)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event_payload("payment_intent.succeeded", intent))
        post_event(client, event_payload("payment_intent.succeeded", intent))
    assert StripeEvent.objects.count() == 2
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 2500


def test_webhook_before_we_recorded_the_intent_still_credits_the_right_company(
    stripe_on, client, organization, other_organization, django_capture_on_commit_callbacks
):
    funding = FundingFactory(organization=organization, amount_cents=1500)
    intent = stripe_gateway.payment_intent_create(
        amount_cents=1500,
        currency="usd",
        funding_id=funding.pk,
        organization_id=str(organization.pk),
        idempotency_key=funding.idempotency_key,
    )
    intent = confirm(intent.id)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event_payload("payment_intent.succeeded", intent.to_dict()))
    funding.refresh_from_db()
    assert funding.stripe_payment_intent_id == intent.id
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 1500
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=other_organization) == 0
    # Our late commit of the intent changes nothing.
    services.funding_record_intent(
        funding_id=funding.pk, payment_intent_id=intent.id, client_secret="cs"
    )
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 1500


@pytest.mark.parametrize(
    "tamper", ["body", "secret", "stale", "future", "missing", "garbage", "two_timestamps"]
)
def test_bad_or_stale_signature_is_400_and_changes_nothing(
    stripe_on, client, organization, company_member, tamper, django_capture_on_commit_callbacks
):
    funding = start_funding(organization, company_member, 5000)
    event = event_payload("payment_intent.succeeded", pay(funding))
    payload = json.dumps(event).encode()
    with django_capture_on_commit_callbacks(execute=True):
        if tamper == "body":
            from tests.billing.support import signature_header

            forged = payload.replace(b'"amount": 5000', b'"amount": 500000')
            response = client.post(
                "/stripe/webhook/",
                data=forged,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature_header(payload),
            )
        elif tamper == "secret":
            response = post_event(client, event, secret="whsec_someone_else")
        elif tamper == "stale":
            response = post_event(client, event, timestamp=time.time() - 301)
        elif tamper == "future":
            # Correctly signed, but dated beyond the tolerance ahead: a captured request signed
            # by a fast clock (or forged with a leaked secret) must not stay replayable for ever.
            response = post_event(client, event, timestamp=time.time() + 301)
        elif tamper == "two_timestamps":
            from tests.billing.support import signature_header

            # A valid signature for a future timestamp, with a current t= after it: the check
            # must read the timestamp Stripe's library verified (the first), not another one.
            future = signature_header(payload, timestamp=time.time() + 3600)
            response = client.post(
                "/stripe/webhook/",
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=f"{future},t={int(time.time())}",
            )
        elif tamper == "missing":
            response = client.post(
                "/stripe/webhook/", data=payload, content_type="application/json"
            )
        else:
            response = post_event(client, event, body=b"not json")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0


def test_a_timestamp_slightly_ahead_within_the_tolerance_is_accepted(
    stripe_on, client, organization, company_member, django_capture_on_commit_callbacks
):
    """Clock skew between Stripe and us is normal: a few seconds ahead is not a replay."""
    funding = start_funding(organization, company_member, 5000)
    event = event_payload("payment_intent.succeeded", pay(funding))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, event, timestamp=time.time() + 60)
    assert response.status_code == 200
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 5000


def test_webhook_without_a_configured_secret_is_refused(settings, client):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post_event(client, event_payload("payment_intent.succeeded", {"id": "pi_1"}))
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_webhook_endpoint_refuses_get(client):
    assert client.get("/stripe/webhook/").status_code == 405


def test_payment_failed_after_success_does_not_undo_the_credit(
    stripe_on, client, organization, company_member, django_capture_on_commit_callbacks
):
    funding = start_funding(organization, company_member, 5000)
    intent = pay(funding)
    failed = {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {"message": "declined"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event_payload("payment_intent.succeeded", intent))
        post_event(client, event_payload("payment_intent.payment_failed", failed))
    funding.refresh_from_db()
    assert funding.status == Funding.Status.SUCCEEDED
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 5000


def test_payment_failed_marks_the_funding_failed(
    stripe_on, client, organization, company_member, django_capture_on_commit_callbacks
):
    funding = start_funding(organization, company_member, 5000)
    intent = stripe_gateway.client().v1.payment_intents.retrieve(funding.stripe_payment_intent_id)
    failed = {**intent.to_dict(), "last_payment_error": {"message": "Your card was declined."}}
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event_payload("payment_intent.payment_failed", failed))
    funding.refresh_from_db()
    assert (funding.status, funding.failure_reason) == ("failed", "Your card was declined.")
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0


def test_account_updated_out_of_order_keeps_the_newest_state(
    stripe_on, client, expert, django_capture_on_commit_callbacks
):
    connected = services.connected_account_ensure(user=expert)
    account = stripe_gateway.account_retrieve(connected.stripe_account_id).to_dict()
    now = int(time.time())
    enabled = event_payload(
        "account.updated",
        {**account, "payouts_enabled": True, "details_submitted": True},
        created=now,
    )
    older = event_payload(
        "account.updated", {**account, "payouts_enabled": False}, created=now - 60
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, enabled)
        post_event(client, older)
    connected.refresh_from_db()
    assert connected.payouts_enabled and connected.details_submitted


def _paid_out(stripe_on, organization, expert) -> Payout:
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert)
    Earning.objects.filter(pk=earning.pk).update(available_at=timezone.now())
    services.earnings_mature_due()
    connected = services.connected_account_ensure(user=expert)
    stripe_on.enable_payouts(connected.stripe_account_id)
    services.connected_account_sync(user=expert)
    payouts.payout_run()
    return Payout.objects.get()


def test_transfer_created_confirms_the_payout_and_replay_changes_nothing(
    stripe_on, client, organization, expert, django_capture_on_commit_callbacks
):
    payout = _paid_out(stripe_on, organization, expert)
    transfer = stripe_gateway.transfer_retrieve(payout.stripe_transfer_id).to_dict()
    event = event_payload("transfer.created", transfer)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event)
        post_event(client, event)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert payout.history.filter(to_status="paid").count() == 1


def test_transfer_reversed_by_stripe_returns_money_to_the_expert_once(
    stripe_on, client, organization, expert, django_capture_on_commit_callbacks
):
    payout = _paid_out(stripe_on, organization, expert)
    stripe_client = stripe_gateway.client()
    stripe_client.v1.transfers.reversals.create(payout.stripe_transfer_id)  # not by us
    transfer = stripe_gateway.transfer_retrieve(payout.stripe_transfer_id).to_dict()
    event = event_payload("transfer.reversed", transfer)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event)
        post_event(client, event_payload("transfer.reversed", transfer))  # another delivery
    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert payout.reversed_cents == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 0
    assert Earning.objects.get().status == Earning.Status.AVAILABLE


def test_our_reversal_its_webhook_and_a_reconcile_book_it_once(
    stripe_on, client, organization, expert, operator, django_capture_on_commit_callbacks
):
    from billing.models import TransferReversal

    payout = _paid_out(stripe_on, organization, expert)
    company_before = ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization)
    outcome = services.earning_refund(
        ref=Earning.objects.get().ref, amount_cents=3600, actor=operator, reason="refund"
    )
    assert outcome.reversal_status == "succeeded"
    snapshot = {
        kind: ledger.balance(kind, user=expert)
        for kind in (Kind.EXPERT_PAID_OUT, Kind.EXPERT_AVAILABLE, Kind.EXPERT_PENDING)
    }
    entries = ledger.LedgerEntry.objects.count()
    transfer = stripe_gateway.transfer_retrieve(payout.stripe_transfer_id).to_dict()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):  # Stripe's event for our own reversal, delivered again and again
            post_event(client, event_payload("transfer.reversed", transfer))
    call_command("stripe_reconcile", "--older-than-seconds", "0")
    call_command("stripe_reconcile", "--older-than-seconds", "0")
    assert ledger.LedgerEntry.objects.count() == entries
    for kind, cents in snapshot.items():
        assert ledger.balance(kind, user=expert) == cents
    assert snapshot[Kind.EXPERT_PAID_OUT] == 3000
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == (
        company_before + 3600
    )
    assert ledger.balance(Kind.PLATFORM_REFUNDS) == 0
    assert TransferReversal.objects.get().status == TransferReversal.Status.SUCCEEDED
    payout.refresh_from_db()
    assert payout.reversed_cents == 3000 and payout.status != Payout.Status.FAILED


def test_transfer_failed_event_fails_the_payout(
    stripe_on, client, organization, expert, django_capture_on_commit_callbacks
):
    payout = _paid_out(stripe_on, organization, expert)
    transfer = stripe_gateway.transfer_retrieve(payout.stripe_transfer_id).to_dict()
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event_payload("transfer.failed", transfer))
    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000


def test_backfill_replays_missed_events_once(stripe_on, organization, company_member, capsys):
    funding = start_funding(organization, company_member, 4200)
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    pay(funding)  # LocalStripe records payment_intent.succeeded; no webhook is registered
    call_command("stripe_backfill", "--since", since)
    call_command("stripe_backfill", "--since", since)
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 4200
    out = capsys.readouterr().out
    assert "0 new" in out.splitlines()[-1]


@pytest.mark.postgres  # live_server on in-memory SQLite shares one connection across threads
def test_live_delivery_from_localstripe_credits_once(
    stripe_on, live_server, organization, company_member
):
    """The real path: LocalStripe signs and POSTs to our running server."""
    stripe_on.register_webhook(f"{live_server.url}/stripe/webhook/", "whsec_billing_tests")
    try:
        funding = start_funding(organization, company_member, 3100)
        pay(funding)
        stripe_on.wait_for_webhooks()
    finally:
        stripe_on.clear_webhooks()
    statuses = {d["type"]: d["status"] for d in stripe_on.webhook_deliveries()}
    assert statuses.get("payment_intent.succeeded") == 200
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 3100
