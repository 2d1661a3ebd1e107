"""The only module that talks to Stripe: one `stripe.StripeClient` configured from settings.

Rules every caller follows:
- no Stripe call inside a database transaction: commit the intent (a row), call Stripe, then
  commit the outcome in a new transaction; `manage.py stripe_reconcile` finishes rows that were
  left half-done. The services that call Stripe are entry points whose first step is a durable
  transaction (`transaction.atomic(durable=True)`), so called inside someone else's transaction
  they fail before Stripe is reached;
- every POST carries an idempotency key derived from our row (`funding-<id>`, `payout-<id>`,
  `payout-<id>-retry-<n>`, `transfer-reversal-<id>`, `connect-account-user-<id>`), and the same
  row always sends the same parameters, so a repeated call returns the first result;
- on the wire every key starts with this database's own prefix (`idempotency_prefix()`, e.g.
  `inl-3f9a1c2b7d4e-payout-17`): row ids repeat across databases, and Stripe keeps keys per
  account, so without it two installations on one account (or two test databases against one
  local Stripe) would be answered with each other's saved results.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

__all__ = [
    "StripeNotConfigured",
    "account_create",
    "account_link_create",
    "account_retrieve",
    "call_count",
    "client",
    "events_list",
    "idempotency_key",
    "idempotency_prefix",
    "payment_intent_create",
    "stripe_configured",
    "transfer_create",
    "transfer_retrieve",
    "transfer_reversal_create",
    "transfers_for_destination",
]


class StripeNotConfigured(Exception):
    """STRIPE_SECRET_KEY is not set: card funding and payouts are switched off."""


_calls = threading.local()
_clients = threading.local()
_pinned = threading.local()


def call_count() -> int:
    """Stripe API calls made by this thread (payout runs report it)."""
    return getattr(_calls, "count", 0)


def _count() -> None:
    _calls.count = call_count() + 1


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def client() -> stripe.StripeClient:
    """One client per thread and configuration, so its HTTP connection is kept alive between
    calls (a payout run makes thousands)."""
    if not stripe_configured():
        raise StripeNotConfigured("STRIPE_SECRET_KEY is not set.")
    base = settings.STRIPE_API_BASE
    config = (settings.STRIPE_SECRET_KEY, base, settings.STRIPE_API_VERSION)
    cached = getattr(_clients, "cached", None)
    if cached is not None and cached[0] == config:
        return cached[1]
    new_client = stripe.StripeClient(
        api_key=settings.STRIPE_SECRET_KEY,
        stripe_version=settings.STRIPE_API_VERSION,
        base_addresses={"api": base} if base else None,
        max_network_retries=0 if base else 2,
    )
    _clients.cached = (config, new_client)
    return new_client


def idempotency_prefix() -> str:
    """This database's prefix for idempotency keys, made once (on the first Stripe call) and
    kept in billing.StripeInstallation; two processes making it at once agree on one row."""
    from billing.models import StripeInstallation

    pinned = getattr(_pinned, "prefix", None)
    if pinned:
        return pinned
    prefix = StripeInstallation.objects.filter(pk=1).values_list("key_prefix", flat=True).first()
    if prefix:
        return prefix
    try:
        with transaction.atomic():
            StripeInstallation.objects.create(pk=1, key_prefix=f"inl-{secrets.token_hex(6)}")
    except IntegrityError:
        pass  # another process made it first: use theirs
    return StripeInstallation.objects.values_list("key_prefix", flat=True).get(pk=1)


@contextlib.contextmanager
def idempotency_prefix_pinned() -> Iterator[str]:
    """Read the prefix once for many calls in this thread (a payout run of thousands of
    transfers would otherwise read it once per transfer)."""
    _pinned.prefix = idempotency_prefix()
    try:
        yield _pinned.prefix
    finally:
        _pinned.prefix = None


def idempotency_key(row_key: str) -> str:
    """The key sent to Stripe for one of our rows' operations (see the module docstring)."""
    return f"{idempotency_prefix()}-{row_key}"


def _post_options(row_key: str) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key(row_key)}


# Funding -------------------------------------------------------------------------------------


def payment_intent_create(
    *, amount_cents: int, currency: str, funding_id: int, organization_id: str, idempotency_key: str
) -> stripe.PaymentIntent:
    params: dict[str, Any] = {
        "amount": amount_cents,
        "currency": currency,
        "metadata": {"funding_id": str(funding_id), "organization_id": str(organization_id)},
    }
    if settings.STRIPE_API_BASE:
        # A local Stripe-compatible server (tests, demos) knows only explicit card payments.
        params["payment_method_types"] = ["card"]
    else:
        params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
    _count()
    return client().v1.payment_intents.create(
        params=params,  # type: ignore[arg-type]
        options=_post_options(idempotency_key),  # type: ignore[arg-type]
    )


# Connect -------------------------------------------------------------------------------------


def account_create(*, user_id: int, email: str, country: str) -> stripe.Account:
    _count()
    return client().v1.accounts.create(
        params={
            "type": "express",
            "country": country,
            "email": email,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": str(user_id)},
        },
        options=_post_options(f"connect-account-user-{user_id}"),  # type: ignore[arg-type]
    )


def account_retrieve(account_id: str) -> stripe.Account:
    _count()
    return client().v1.accounts.retrieve(account_id)


def account_link_create(
    *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
) -> stripe.AccountLink:
    _count()
    return client().v1.account_links.create(
        params={
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        },
        options=_post_options(idempotency_key),  # type: ignore[arg-type]
    )


# Transfers -----------------------------------------------------------------------------------


def transfer_create(
    *,
    amount_cents: int,
    currency: str,
    destination: str,
    payout_id: int,
    idempotency_key: str,
    attempt: int = 0,
) -> stripe.Transfer:
    _count()
    # The attempt in the metadata tells a retry's transfer from the earlier attempt's one when
    # reconciling (billing.payouts.transfer_is_for).
    return client().v1.transfers.create(
        params={
            "amount": amount_cents,
            "currency": currency,
            "destination": destination,
            "description": f"Inloop payout #{payout_id}",
            "metadata": {"payout_id": str(payout_id), "attempt": str(attempt)},
        },
        options=_post_options(idempotency_key),  # type: ignore[arg-type]
    )


def transfer_retrieve(transfer_id: str) -> stripe.Transfer:
    _count()
    return client().v1.transfers.retrieve(transfer_id)


def transfers_for_destination(destination: str) -> list[stripe.Transfer]:
    """Every transfer to one connected account, newest first (reconciliation only)."""
    _count()
    page = client().v1.transfers.list(params={"destination": destination, "limit": 100})
    return list(page.auto_paging_iter())


def transfer_reversal_create(
    *, transfer_id: str, amount_cents: int, reversal_id: int, idempotency_key: str
) -> stripe.Reversal:
    _count()
    return client().v1.transfers.reversals.create(
        transfer_id,
        params={"amount": amount_cents, "metadata": {"transfer_reversal_id": str(reversal_id)}},
        options=_post_options(idempotency_key),  # type: ignore[arg-type]
    )


# Events --------------------------------------------------------------------------------------


def events_list(*, since_unix: int) -> list[stripe.Event]:
    """Events created at or after `since_unix`, oldest first (the order they happened)."""
    _count()
    page = client().v1.events.list(params={"created": {"gte": since_unix}, "limit": 100})
    events = list(page.auto_paging_iter())
    events.sort(key=lambda event: (event.created, event.id))
    return events
