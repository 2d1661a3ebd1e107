"""Outbound webhooks to companies: events frozen at creation, signed, delivered after commit by a
background task, retried with exponential backoff for more than 24 hours."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from review_requests.models import ReviewRequest, WebhookEvent

EVENT_TYPES = {
    "in_review": "review_request.in_review",
    "completed": "review_request.completed",
    "cancelled": "review_request.cancelled",
    "expired": "review_request.expired",
}

# Delays after attempt n (1-based): 30 s, 1, 2, 4, ... min, capped at 4 h; 16 attempts span > 24 h.
MAX_ATTEMPTS = 16


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempt - 1), 4 * 3600))


def sign(*, secret: str, timestamp: int, body: str) -> str:
    """`Inloop-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (contract/API.md)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_event_enqueue(*, review_request: ReviewRequest, event_type: str) -> WebhookEvent | None:
    """Freeze the event body now (inside the caller's transaction) and deliver after commit.
    Returns None when the request has no callback_url."""
    if not review_request.callback_url:
        return None
    from review_requests.serializers import review_request_to_api

    event_id = "evt_" + secrets.token_hex(12)
    body = json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created": int(time.time()),
            "data": review_request_to_api(review_request),
        },
        separators=(",", ":"),
    )
    event = WebhookEvent.objects.create(
        id=event_id,
        organization_id=review_request.organization_id,
        review_request=review_request,
        type=event_type,
        url=review_request.callback_url,
        body=body,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue_delivery(event_id))
    return event


def _enqueue_delivery(event_id: str) -> None:
    from review_requests.tasks import webhook_deliver

    webhook_deliver.enqueue(event_id)
