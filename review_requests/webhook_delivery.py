"""Sending webhook events: one attempt at a time, each logged, retried with backoff."""

from __future__ import annotations

import time

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from review_requests.models import WebhookAttempt, WebhookEvent
from review_requests.webhooks import MAX_ATTEMPTS, retry_delay, sign


def attempt(*, event_id: str) -> str:
    # Claim the attempt with a conditional update so two workers never send the same attempt.
    now = timezone.now()
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update()
            .select_related("organization")
            .filter(pk=event_id)
            .first()
        )
        if event is None or event.delivered_at is not None or event.gave_up_at is not None:
            return "skipped"
        if event.next_attempt_at is not None and event.next_attempt_at > now:
            return "not_due"
        event.attempts += 1
        number = event.attempts
        # Park the event while the request is in flight; a crash retries after the backoff.
        event.next_attempt_at = now + retry_delay(number)
        event.save(update_fields=["attempts", "next_attempt_at"])
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Inloop-Webhooks/1",
        "Inloop-Signature": sign(
            secret=event.organization.webhook_secret, timestamp=timestamp, body=event.body
        ),
        "Inloop-Event-Id": event.id,
    }
    started = time.perf_counter()
    status_code = None
    excerpt = ""
    error = ""
    try:
        response = requests.post(
            event.url,
            data=event.body.encode(),
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status_code = response.status_code
        excerpt = response.text[:500]
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:500]
    latency_ms = int((time.perf_counter() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        WebhookAttempt.objects.create(
            event_id=event.id,
            number=number,
            status_code=status_code,
            latency_ms=latency_ms,
            response_excerpt=excerpt,
            error=error,
            succeeded=succeeded,
        )
        if succeeded:
            WebhookEvent.objects.filter(pk=event.id).update(
                delivered_at=timezone.now(), next_attempt_at=None
            )
            return "delivered"
        if number >= MAX_ATTEMPTS:
            WebhookEvent.objects.filter(pk=event.id).update(
                gave_up_at=timezone.now(), next_attempt_at=None
            )
            return "gave_up"
    return "retry"


def retry_due(limit: int = 200) -> int:
    due = list(
        WebhookEvent.objects.filter(
            delivered_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:limit]
    )
    for event_id in due:
        attempt(event_id=event_id)
    return len(due)
