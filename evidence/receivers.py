"""Reactions to review_requests' signals (connected in EvidenceConfig.ready)."""

from __future__ import annotations


def on_review_request_completed(sender, review_request_id, **kwargs) -> None:
    """Sent on commit of a completion: the record is built by the worker, off the submit."""
    from evidence.tasks import evidence_build_task

    evidence_build_task.enqueue(str(review_request_id))


def on_dispute_decided(sender, review_request_id, **kwargs) -> None:
    """The outcome goes into the chain at once, also when a rework keeps the request open."""
    from evidence.tasks import evidence_build_task

    evidence_build_task.enqueue(str(review_request_id))


def on_workspace_watched(sender, review_request_id, assignment_id, user, role, **kwargs) -> None:
    from evidence.services import watch_session_record

    watch_session_record(
        review_request_id=review_request_id, assignment_id=assignment_id, user=user, role=role
    )


def connect() -> None:
    from review_requests.signals import (
        dispute_decided,
        review_request_completed,
        workspace_watched,
    )

    review_request_completed.connect(
        on_review_request_completed, dispatch_uid="evidence_request_completed"
    )
    dispute_decided.connect(on_dispute_decided, dispatch_uid="evidence_dispute_decided")
    workspace_watched.connect(on_workspace_watched, dispatch_uid="evidence_workspace_watched")
