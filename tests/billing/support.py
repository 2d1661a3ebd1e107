"""Helpers for billing tests: Stripe settings pointing at LocalStripe, signed webhook events
(Stripe's own v1 scheme) and the transfers LocalStripe saw. Money set-ups are factories
(tests/factories.py) over the real services."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

WEBHOOK_SECRET = "whsec_billing_tests"


def use_localstripe(settings, localstripe, *, publishable: bool = True) -> None:
    settings.STRIPE_SECRET_KEY = localstripe.api_key
    settings.STRIPE_API_BASE = localstripe.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_localstripe" if publishable else ""


def signature_header(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp=None) -> str:
    """Stripe-Signature exactly as Stripe computes it: HMAC-SHA256 of "<t>.<body>"."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(event_type: str, obj: dict, *, event_id: str | None = None, created=None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()) if created is None else int(created),
        "api_version": "2025-09-30.clover",
        "livemode": False,
        "data": {"object": obj},
    }


def post_event(client, event: dict, *, secret: str = WEBHOOK_SECRET, timestamp=None, body=None):
    payload = body if body is not None else json.dumps(event).encode()
    return client.post(
        "/stripe/webhook/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(payload, secret=secret, timestamp=timestamp),
    )


def transfers_made(localstripe) -> int:
    return localstripe.calls().get("POST /v1/transfers", 0)
