"""Background tasks of the evidence app (django-tasks; the worker runs them)."""

from __future__ import annotations

from django_tasks import task

from evidence import services


@task()
def evidence_build_task(review_request_id: str) -> int:
    """A request completed: its record, or the dispute outcomes since. Returns entries added."""
    return len(services.evidence_for_completion(review_request_id=review_request_id))


@task()
def evidence_retention_prune() -> int:
    """Periodic: delete what is past EVIDENCE_RETENTION_DAYS, recording it in the chain."""
    return services.evidence_retention_prune()


@task()
def evidence_anchor_daily() -> str:
    """Periodic: today's anchor hash over every chain's head."""
    return services.evidence_anchor_daily().anchor_hash
