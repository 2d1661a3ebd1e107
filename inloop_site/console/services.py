"""Operator actions on stuck requests. Each one calls the owning app's service and leaves an
audit record (who, what, before, after) in the same transaction. Payout and credit actions are
money actions: billing.money_actions."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from marketplace.models import User
from marketplace.services import audit_record
from review_requests.models import Assignment, ReviewRequest


def _request_state(review_request: ReviewRequest) -> dict:
    review_request.refresh_from_db(fields=["status", "waiting_for_funds"])
    return {"status": review_request.status, "waiting_for_funds": review_request.waiting_for_funds}


def console_request_reoffer(*, review_request: ReviewRequest, actor: User) -> int:
    from review_requests.matching import matching_run

    if review_request.status != ReviewRequest.Status.QUEUED:
        raise ValidationError("Only a queued request can be offered again.")
    with transaction.atomic(durable=True):
        before = _request_state(review_request)
        offers_created = matching_run(review_request=review_request)
        audit_record(
            actor=actor,
            action="console.request_reoffered",
            object_type="review_request",
            object_id=review_request.pk,
            organization=review_request.organization,
            before=before,
            after={**_request_state(review_request), "offers_created": offers_created},
        )
    return offers_created


def console_assignment_reassign(*, assignment: Assignment, actor: User, reason: str) -> Assignment:
    from review_requests.services import Refused, assignment_release

    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the expert is taken off this request."})
    if assignment.status not in Assignment.ACTIVE:
        raise ValidationError("Only an accepted or in-progress assignment can be reassigned.")
    with transaction.atomic(durable=True):
        before = {"status": assignment.status, "expert": str(assignment.expert_id)}
        try:
            assignment = assignment_release(assignment=assignment, actor=actor, reason=reason)
        except Refused as exc:
            raise ValidationError(str(exc)) from exc
        assignment.refresh_from_db(fields=["status"])
        audit_record(
            actor=actor,
            action="console.assignment_reassigned",
            object_type="assignment",
            object_id=assignment.pk,
            organization=assignment.review_request.organization,
            before=before,
            after={"status": assignment.status, "reason": reason},
        )
    return assignment


def console_request_cancel(*, review_request: ReviewRequest, actor: User, reason: str) -> None:
    from review_requests.services import Refused, request_cancel

    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the request is cancelled."})
    with transaction.atomic(durable=True):
        before = _request_state(review_request)
        try:
            request_cancel(review_request=review_request, actor=actor)
        except Refused as exc:
            raise ValidationError(str(exc)) from exc
        audit_record(
            actor=actor,
            action="console.request_cancelled",
            object_type="review_request",
            object_id=review_request.pk,
            organization=review_request.organization,
            before=before,
            after={**_request_state(review_request), "reason": reason},
        )
