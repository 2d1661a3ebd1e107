"""Stripe webhook events: verified, stored once by event id, handled idempotently after commit.

The endpoint (billing.views.stripe_webhook) verifies the signature on the raw body, stores the
event (a replay of a stored event id changes nothing) and answers at once; the handling runs on
commit as a task (`billing.tasks.stripe_event_handle`). Each handler is safe to run twice and
in any order against other events:

- payment_intent.succeeded: credit the company (ledger ref = the PaymentIntent id, so two
  events for one intent credit once); found by our Funding row, by PI id or by the
  `funding_id` metadata when the event beats our own commit of the PI id.
- payment_intent.payment_failed: the Funding is failed, unless it already succeeded.
- account.updated: payouts_enabled/details_submitted, applied only if not older than what is
  stored (the event's `created`).
- transfer.* events act only on the transfer of the payout's current attempt (the one
  recorded, or the metadata's payout id and attempt): a late event about an earlier attempt's
  transfer changes nothing.
- transfer.created (and .updated/.paid): the payout is confirmed (-> paid), recording the
  transfer id first if the event beat our commit.
- transfer.reversed: each reversal in the transfer's list once (ledger ref per Stripe reversal
  id). Ours (metadata transfer_reversal_id) complete our TransferReversal row; any other
  reversal gives the money back to the expert's available balance; a fully reversed transfer
  fails the payout.
- transfer.failed: the payout fails, money back to the expert's available balance.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import ledger, payouts
from billing.models import (
    Funding,
    LedgerAccount,
    Payout,
    StripeEvent,
    TransferReversal,
)
from billing.signals import funds_added
from marketplace.transitions import transition

Kind = LedgerAccount.Kind
logger = logging.getLogger("inloop.billing.webhooks")


class WebhookRejected(Exception):
    """Bad signature, stale or future timestamp, unparsable body or no secret configured: 400."""


# Stripe's library refuses timestamps older than this, but not ones ahead of our clock: an event
# signed for a time far in the future would stay replayable until then. Same window both ways.
SIGNATURE_TOLERANCE_SECONDS = 300


def _signed_timestamp(signature: str) -> int:
    """The first `t=` of a Stripe-Signature header: the one stripe-python verifies the HMAC with."""
    for item in signature.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise WebhookRejected("Bad signature: no timestamp.")


def stripe_event_verify(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if the body is signed by our endpoint secret within Stripe's tolerance."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not set.")
    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header.")
    try:
        stripe.Webhook.construct_event(
            payload, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(f"Bad signature: {error}") from error
    except ValueError as error:
        raise WebhookRejected("The body is not a Stripe event.") from error
    if _signed_timestamp(signature) > time.time() + SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookRejected("Bad signature: timestamp is in the future beyond the tolerance.")
    try:
        event = json.loads(payload)
    except ValueError as error:  # pragma: no cover - construct_event parsed it already
        raise WebhookRejected("The body is not JSON.") from error
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise WebhookRejected("The body is not a Stripe event.")
    return event


def stripe_event_store(*, event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Store an event once; handling is queued on commit. (event, created)."""
    from billing.tasks import stripe_event_handle

    with transaction.atomic(durable=True):
        stored, created = StripeEvent.objects.get_or_create(
            id=str(event["id"])[:100],
            defaults={"type": str(event["type"])[:100], "payload": event},
        )
        if created or stored.processed_at is None:
            event_id = stored.id
            transaction.on_commit(lambda: stripe_event_handle.enqueue(event_id))
    return stored, created


def stripe_event_process(*, event_id: str) -> StripeEvent:
    """Handle a stored event once (locks the row; a processed event is left alone)."""
    with transaction.atomic(durable=True):
        stored = StripeEvent.objects.select_for_update().get(pk=event_id)
        if stored.processed_at is not None:
            return stored
        handler = HANDLERS.get(stored.type)
        outcome = handler(stored.payload) if handler else "ignored: not handled"
        stored.processed_at = timezone.now()
        stored.outcome = outcome[:200]
        stored.save(update_fields=["processed_at", "outcome"])
    return stored


def stripe_events_backfill(*, since: datetime) -> dict[str, int]:
    """Replay events from Stripe's events list (missed while we were down) through the same
    store-and-handle path; events already stored change nothing."""
    from billing import stripe_gateway

    counts = {"listed": 0, "stored": 0, "processed": 0}
    for event in stripe_gateway.events_list(since_unix=int(since.timestamp())):
        counts["listed"] += 1
        payload = event.to_dict() if hasattr(event, "to_dict") else dict(event)
        stored, created = stripe_event_store(event=payload)
        counts["stored"] += int(created)
        if stored.processed_at is None:
            stripe_event_process(event_id=stored.id)
            counts["processed"] += 1
    return counts


def _object(payload: dict[str, Any]) -> dict[str, Any]:
    return (payload.get("data") or {}).get("object") or {}


def _created(payload: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(payload.get("created") or 0), tz=UTC)


# Funding -------------------------------------------------------------------------------------


def _funding_for(intent: dict[str, Any]) -> Funding | None:
    funding = Funding.objects.select_for_update().filter(stripe_payment_intent_id=intent.get("id"))
    found = funding.select_related("organization").first()
    if found is not None:
        return found
    funding_id = (intent.get("metadata") or {}).get("funding_id")
    if funding_id and str(funding_id).isdigit():
        found = (
            Funding.objects.select_for_update()
            .select_related("organization")
            .filter(pk=int(funding_id), stripe_payment_intent_id__isnull=True)
            .first()
        )
    return found


def _payment_intent_succeeded(payload: dict[str, Any]) -> str:
    intent = _object(payload)
    intent_id = intent.get("id", "")
    funding = _funding_for(intent)
    if funding is None:
        return f"ignored: no funding for {intent_id}"
    amount = int(intent.get("amount_received") or intent.get("amount") or 0)
    if amount <= 0 or intent.get("currency", "usd") != funding.currency:
        return f"ignored: unexpected amount or currency on {intent_id}"
    if ledger.LedgerTransaction.objects.filter(ref=intent_id).exists():
        outcome = "already credited"
    else:
        ledger.transfer(
            ref=intent_id,
            reason="funding",
            source=ledger.account(Kind.PLATFORM_STRIPE_CLEARING),
            destination=ledger.account(Kind.COMPANY_AVAILABLE, organization=funding.organization),
            amount_cents=amount,
            organization=funding.organization,
            memo=f"Card top-up #{funding.pk}",
        )
        funds_added.send(sender=Funding, organization_id=funding.organization_id)
        outcome = f"credited {amount}"
    funding.stripe_payment_intent_id = intent_id
    funding.succeeded_at = funding.succeeded_at or _created(payload)
    if funding.status == Funding.Status.SUCCEEDED:  # the event delivered again
        funding.save(update_fields=["stripe_payment_intent_id", "succeeded_at"])
    else:
        transition(
            funding,
            Funding.Status.SUCCEEDED,
            reason=f"stripe event {payload.get('id', '')}"[:500],
            stripe_payment_intent_id=intent_id,
            succeeded_at=funding.succeeded_at,
        )
    return outcome


def _payment_intent_failed(payload: dict[str, Any]) -> str:
    intent = _object(payload)
    funding = _funding_for(intent)
    if funding is None:
        return "ignored: no funding"
    if funding.status == Funding.Status.SUCCEEDED:
        return "ignored: already succeeded"
    error = intent.get("last_payment_error") or {}
    funding.stripe_payment_intent_id = intent.get("id")
    funding.failure_reason = str(error.get("message") or "The payment failed.")[:500]
    if funding.status == Funding.Status.FAILED:  # the event delivered again, or a second decline
        funding.save(update_fields=["stripe_payment_intent_id", "failure_reason"])
    else:
        transition(
            funding,
            Funding.Status.FAILED,
            reason=funding.failure_reason,
            stripe_payment_intent_id=funding.stripe_payment_intent_id,
            failure_reason=funding.failure_reason,
        )
    return "funding failed"


# Connect -------------------------------------------------------------------------------------


def _account_updated(payload: dict[str, Any]) -> str:
    from billing.services import connected_account_apply

    account = _object(payload)
    connected = connected_account_apply(
        stripe_account_id=account.get("id", ""),
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        as_of=_created(payload),
    )
    if connected is None:
        return "ignored: unknown account"
    return f"payouts_enabled={connected.payouts_enabled}"


# Transfers -----------------------------------------------------------------------------------


def _payout_for(transfer: dict[str, Any]) -> Payout | None:
    payout_id = (transfer.get("metadata") or {}).get("payout_id")
    found = None
    if payout_id and str(payout_id).isdigit():
        found = Payout.objects.select_related("user").filter(pk=int(payout_id)).first()
    if found is None and transfer.get("id"):
        found = (
            Payout.objects.select_related("user").filter(stripe_transfer_id=transfer["id"]).first()
        )
    if found is None:
        return None
    account = getattr(found.user, "connected_account", None)
    if account is None or account.stripe_account_id != transfer.get("destination"):
        return None  # not the transfer we made for this payout
    return found


def _current_payout(transfer: dict[str, Any]) -> Payout | None:
    """The payout whose current attempt this transfer is (an earlier attempt's transfer, failed
    or refused, must not confirm, fail or reverse the retry)."""
    payout = _payout_for(transfer)
    if payout is None or not payouts.transfer_is_for(payout=payout, transfer=transfer):
        return None
    return payout


def _transfer_created(payload: dict[str, Any]) -> str:
    transfer = _object(payload)
    payout = _current_payout(transfer)
    if payout is None:
        return "ignored: not the transfer of a payout's current attempt"
    payouts.payout_mark_paid(
        payout_id=payout.pk, transfer_id=transfer["id"], attempt=payout.attempt
    )
    return "payout confirmed"


def _transfer_failed(payload: dict[str, Any]) -> str:
    transfer = _object(payload)
    payout = _current_payout(transfer)
    if payout is None:
        return "ignored: not the transfer of a payout's current attempt"
    changed = payouts.payout_fail(
        payout_id=payout.pk,
        reason="Stripe reported the transfer failed",
        attempt=payout.attempt,
    )
    return "payout failed" if changed else "already failed"


def _transfer_reversed(payload: dict[str, Any]) -> str:
    from billing.services import transfer_reversal_succeeded

    transfer = _object(payload)
    payout = _current_payout(transfer)
    if payout is None:
        return "ignored: not the transfer of a payout's current attempt"
    if not payout.stripe_transfer_id:
        # The event beat our commit of the transfer (or a crash lost it): record it first.
        payouts.payout_mark_sent(
            payout_id=payout.pk, transfer_id=transfer["id"], attempt=payout.attempt
        )
    booked = 0
    for reversal in (transfer.get("reversals") or {}).get("data") or []:
        ours = (reversal.get("metadata") or {}).get("transfer_reversal_id")
        if ours and str(ours).isdigit():
            if TransferReversal.objects.filter(pk=int(ours), payout=payout).exists():
                transfer_reversal_succeeded(
                    reversal_id=int(ours), stripe_reversal_id=reversal["id"]
                )
            continue
        ref = f"stripe-reversal:{reversal['id']}"
        if ledger.LedgerTransaction.objects.filter(ref=ref).exists():
            continue
        amount = int(reversal.get("amount") or 0)
        if amount <= 0:
            continue
        ledger.transfer(
            ref=ref,
            reason="transfer_reversed",
            source=ledger.account(Kind.EXPERT_PAID_OUT, user=payout.user),
            destination=ledger.account(Kind.EXPERT_AVAILABLE, user=payout.user),
            amount_cents=amount,
            memo=f"Stripe reversed part of payout #{payout.pk}",
        )
        Payout.objects.filter(pk=payout.pk).update(reversed_cents=F("reversed_cents") + amount)
        booked += amount
    # Wholly reversed (by us, by Stripe, in the dashboard): the payout did not happen.
    payouts.payout_reversed_in_full(payout_id=payout.pk, reason="transfer reversed")
    return f"reversed {booked} back to the expert"


HANDLERS = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "account.updated": _account_updated,
    "transfer.created": _transfer_created,
    "transfer.updated": _transfer_created,
    "transfer.paid": _transfer_created,
    "transfer.failed": _transfer_failed,
    "transfer.reversed": _transfer_reversed,
}
