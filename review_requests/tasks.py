"""Background tasks of review_requests (django-tasks; db_worker runs them)."""

from __future__ import annotations

from django_tasks import task

from review_requests import webhook_delivery


@task()
def webhook_deliver(event_id: str) -> str:
    """One delivery attempt; schedules the next one with backoff on failure."""
    return webhook_delivery.attempt(event_id=event_id)


@task()
def webhook_resend(event_id: str) -> str:
    """A company asked to send an event again: one more attempt, same id and body."""
    return webhook_delivery.attempt(event_id=event_id, manual=True)


@task()
def webhooks_retry_due() -> int:
    """Periodic: attempt every event whose next attempt is due (covers worker restarts)."""
    return webhook_delivery.retry_due()
