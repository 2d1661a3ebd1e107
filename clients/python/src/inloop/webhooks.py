"""Verifying (and, for `inloop webhook listen`, making) the signatures of Inloop's webhooks.

Every delivery carries two signatures of the same raw body:

- `Inloop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed by the
  organization's webhook secret as text (its UTF-8 bytes). `verify` checks this one.
- The Standard Webhooks headers `webhook-id` (the event id), `webhook-timestamp` and
  `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, for the
  `standardwebhooks` library and gateways that speak it. Their key is the secret read the
  Standard Webhooks way: Inloop's secrets look like `whsec_<48 hex digits>`, which is valid
  base64 after the prefix, so the secret as shown on the webhooks page is your Standard Webhooks
  secret as it is (`standardwebhooks.Webhook(secret)`). A secret not of that form (none is made
  so) is used as `"whsec_" + base64(secret)`: `standard_webhooks_secret` says which.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from inloop.errors import InloopSignatureError
from inloop.models import AUTO_APPROVED_EVENT, AutoApprovedEvent, WebhookEvent

SIGNATURE_HEADER = "Inloop-Signature"
STANDARD_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300


def _raw(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in (header or "").split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise InloopSignatureError("Inloop-Signature: t is not a number") from exc
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InloopSignatureError("Inloop-Signature is missing t= or v1=")
    return timestamp, signatures


def sign(payload: bytes | str, secret: str, *, timestamp: int | None = None) -> str:
    """The Inloop-Signature header value for `payload` (what the server sends)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = str(timestamp).encode() + b"." + _raw(payload)
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    payload: bytes | str,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> WebhookEvent | AutoApprovedEvent:
    """Check `header` (the Inloop-Signature value) against the raw request body `payload` and
    return the parsed event (an AutoApprovedEvent for `review_request.auto_approved`, which
    carries a list of requests). Raises InloopSignatureError if the header is missing or malformed,
    no v1 signature matches (compared in constant time), or the timestamp is more than
    `tolerance` seconds old or ahead (a replayed or forged delivery).

    Pass the body exactly as received (bytes), before any JSON parsing."""
    if not secret:
        raise InloopSignatureError("No webhook secret given")
    timestamp, signatures = _parse_header(header or "")
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise InloopSignatureError("Inloop-Signature timestamp is too old")
    if timestamp > current + tolerance:
        raise InloopSignatureError("Inloop-Signature timestamp is in the future")
    expected = sign(payload, secret, timestamp=timestamp).split("v1=", 1)[1]
    # Every candidate is compared, in constant time, so timing says nothing about which failed.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise InloopSignatureError("Inloop-Signature does not match the body")
    try:
        event = json.loads(_raw(payload))
        if isinstance(event, dict) and event.get("type") == AUTO_APPROVED_EVENT:
            return AutoApprovedEvent.model_validate(event)
        return WebhookEvent.model_validate(event)
    except ValueError as exc:
        raise InloopSignatureError("The signed body is not an Inloop event") from exc


# Standard Webhooks --------------------------------------------------------------------------


def _standard_key_or_none(secret: str) -> bytes | None:
    if not secret.startswith(STANDARD_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of the `webhook-signature` header for an organization's secret."""
    key = _standard_key_or_none(secret)
    return key if key is not None else secret.encode()


def standard_webhooks_secret(secret: str) -> str:
    """The secret to give `standardwebhooks.Webhook(...)` (or a gateway) for an organization's
    webhook secret: the secret itself, for every secret Inloop makes."""
    if _standard_key_or_none(secret) is not None:
        return secret
    return STANDARD_PREFIX + base64.b64encode(secret.encode()).decode()


def standard_signature(*, msg_id: str, timestamp: int, payload: bytes | str, secret: str) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + _raw(payload)
    digest = hmac.new(standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    payload: bytes | str, secret: str, *, event_id: str, timestamp: int | None = None
) -> dict[str, Any]:
    """Both signatures' headers, as a delivery from the server carries them."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        SIGNATURE_HEADER: sign(payload, secret, timestamp=timestamp),
        "Inloop-Event-Id": event_id,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(
            msg_id=event_id, timestamp=timestamp, payload=payload, secret=secret
        ),
    }
