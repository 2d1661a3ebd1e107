"""Sending webhook events: one attempt at a time, each logged, retried with backoff.

An attempt is claimed under a row lock (attempt number incremented, the next try parked one
backoff away) and committed before anything goes on the wire, so two workers never send the same
attempt and a worker that dies mid-send is retried later by `retry_due`. The body sent is the one
frozen at creation: every attempt and every resend carries the same bytes; only the signature's
timestamp is fresh.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from review_requests.models import WebhookAttempt, WebhookEvent
from review_requests.webhooks import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    Target,
    callback_url_target,
    retry_delay,
    sign,
    standard_sign,
)

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Inloop-Webhooks/1"


@dataclass(frozen=True)
class Claim:
    event_id: str
    number: int
    url: str
    body: str
    secret: str
    manual: bool


def attempt_claim(*, event_id: str, manual: bool = False) -> Claim | None:
    """Take the next attempt of an event, or None if it is not due (or done, or gone).

    `manual` (a resend) sends even a delivered or given-up event once more."""
    now = timezone.now()
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update()
            .select_related("organization")
            .filter(pk=event_id)
            .first()
        )
        if event is None:
            return None
        finished = event.delivered_at is not None or event.gave_up_at is not None
        if not manual:
            if finished:
                return None
            if event.next_attempt_at is not None and event.next_attempt_at > now:
                return None
        event.attempts += 1
        fields = ["attempts"]
        if not finished:
            # Park the event while the request is in flight: a second worker sees "not due",
            # and a crash mid-send is picked up by retry_due after the backoff.
            event.next_attempt_at = now + retry_delay(event.attempts)
            fields.append("next_attempt_at")
        event.save(update_fields=fields)
        return Claim(
            event_id=event.pk,
            number=event.attempts,
            url=event.url,
            body=event.body,
            secret=event.organization.webhook_secret,
            manual=manual,
        )


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS says a moment later."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with SNI and certificate verification for the URL's host."""

    def __init__(self, target: Target, timeout: float):
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    excerpt: str
    error: str


def _post(*, target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout)
    deadline = time.monotonic() + timeout
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        # Read a bounded amount, and never past the overall deadline (a trickling receiver).
        chunks: list[bytes] = []
        size = 0
        while size < MAX_RESPONSE_BYTES:
            if time.monotonic() > deadline:
                break
            chunk = response.read1(MAX_RESPONSE_BYTES - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        text = b"".join(chunks).decode("utf-8", errors="replace")
        return Outcome(status_code=response.status, excerpt=text[:EXCERPT_CHARS], error="")
    except TimeoutError:
        return Outcome(None, "", f"Timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, "", f"{exc.__class__.__name__}: {exc}"[:EXCERPT_CHARS])
    finally:
        connection.close()


def _record(*, claim: Claim, outcome: Outcome, latency_ms: int) -> str:
    succeeded = outcome.status_code is not None and 200 <= outcome.status_code < 300
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            event_id=claim.event_id,
            number=claim.number,
            status_code=outcome.status_code,
            latency_ms=latency_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
            succeeded=succeeded,
        )
        events = WebhookEvent.objects.filter(pk=claim.event_id)
        if succeeded:
            events.update(delivered_at=now, next_attempt_at=None, gave_up_at=None)
            return "delivered"
        if claim.manual:
            # A failed resend leaves the event as it was: still retrying, delivered or given up.
            return "failed"
        if claim.number >= MAX_ATTEMPTS:
            events.filter(delivered_at__isnull=True).update(gave_up_at=now, next_attempt_at=None)
            return "gave_up"
    return "retry"


def attempt(*, event_id: str, manual: bool = False) -> str:
    """One delivery attempt. Returns skipped / delivered / retry / gave_up / failed / refused."""
    claim = attempt_claim(event_id=event_id, manual=manual)
    if claim is None:
        return "skipped"
    started = time.perf_counter()
    try:
        # Checked again now, against the address we then connect to (DNS rebinding).
        target = callback_url_target(claim.url)
    except ValidationError as exc:
        outcome = Outcome(None, "", ("Refused: " + " ".join(exc.messages))[:EXCERPT_CHARS])
        logger.warning("webhook %s refused: %s", claim.event_id, outcome.error)
        result = _record(claim=claim, outcome=outcome, latency_ms=0)
        return "refused" if result == "retry" else result
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret=claim.secret, timestamp=timestamp, body=claim.body),
        "Inloop-Event-Id": claim.event_id,
        STANDARD_ID_HEADER: claim.event_id,
        STANDARD_TIMESTAMP_HEADER: str(timestamp),
        STANDARD_SIGNATURE_HEADER: standard_sign(
            secret=claim.secret, msg_id=claim.event_id, timestamp=timestamp, body=claim.body
        ),
    }
    outcome = _post(
        target=target,
        body=claim.body.encode(),
        headers=headers,
        timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS),
    )
    latency_ms = int((time.perf_counter() - started) * 1000)
    return _record(claim=claim, outcome=outcome, latency_ms=latency_ms)


def retry_due(limit: int = 500) -> int:
    """Enqueue a delivery task for every event whose next attempt is due. A task that finds its
    attempt already claimed does nothing, so overlapping runs are harmless."""
    from review_requests.tasks import webhook_deliver

    due = list(
        WebhookEvent.objects.filter(
            delivered_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for event_id in due:
        webhook_deliver.enqueue(event_id)
    return len(due)
