"""Background tasks of review_requests (django-tasks; db_worker runs them)."""

from __future__ import annotations

from django_tasks import task

from review_requests import webhook_delivery

# What someone is waiting for goes first: the worker takes ready tasks by priority, then in order,
# so a submit's webhook no longer queues behind the re-matching the same submit set off (the
# expert's freed capacity), nor a create's offers behind a sweep (bench/loop.py).
WAITED_FOR = 10


@task(priority=WAITED_FOR)
def webhook_deliver(event_id: str) -> str:
    """One delivery attempt; schedules the next one with backoff on failure."""
    return webhook_delivery.attempt(event_id=event_id)


@task(priority=WAITED_FOR)
def webhook_resend(event_id: str) -> str:
    """A company asked to send an event again: one more attempt, same id and body."""
    return webhook_delivery.attempt(event_id=event_id, manual=True)


@task()
def webhooks_retry_due() -> int:
    """Periodic: attempt every event whose next attempt is due (covers worker restarts)."""
    return webhook_delivery.retry_due()


# Offers, expiry and idempotency ("API+offers") ------------------------------------------------


@task(priority=WAITED_FOR)
def matching_run_task(review_request_ids: list[str]) -> int:
    """One matching pass for new requests (create, batch), declines and releases."""
    from review_requests.matching import matching_run_many

    return matching_run_many(review_request_ids=review_request_ids)


@task()
def matching_for_expert_task(expert_id: str) -> int:
    """An expert's supply changed: re-match queued requests they could take (bounded)."""
    from review_requests.matching import matching_for_expert

    return matching_for_expert(expert_id=expert_id)


@task()
def matching_for_funds_task(organization_id: str) -> int:
    from review_requests.matching import matching_for_funds

    return matching_for_funds(organization_id=organization_id)


@task()
def offers_expire_due() -> int:
    """Periodic: expire due offers and send replacements."""
    from review_requests.services import offers_expire_due as expire

    return expire()


@task()
def requests_expire_due() -> int:
    """Periodic: requests past their deadline become `expired` and release their holds."""
    from review_requests.services import requests_expire_due as expire

    return expire()


@task()
def matching_sweep() -> int:
    """Periodic: re-match requests with open slots and no open offer (funds, missed signals)."""
    from review_requests.matching import matching_sweep as sweep

    return sweep()


@task()
def idempotency_prune() -> int:
    """Periodic: forget Idempotency-Key records older than 24 h."""
    from review_requests.idempotency import idempotency_prune as prune

    return prune()


@task()
def dispute_timers() -> dict:
    """Periodic: disputes without an expert answer after 3 days become ready for a decision;
    disputes open over 14 days are flagged."""
    from review_requests.dispute_services import dispute_timers_run

    result = dispute_timers_run()
    return {"ready": result.ready, "flagged": result.flagged}
