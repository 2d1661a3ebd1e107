"""Writes of the review-request lifecycle. Status changes go through the transition helpers below,
which refuse illegal moves and leave a history row."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from marketplace.realtime import broadcast_on_commit, request_group
from review_requests.models import (
    Assignment,
    AssignmentStatusChange,
    RequestStatusChange,
    ReviewRequest,
)
from review_requests.webhooks import EVENT_TYPES, webhook_event_enqueue


class IllegalTransition(Exception):
    def __init__(self, kind: str, from_status: str, to_status: str):
        super().__init__(f"A {kind} cannot go from {from_status} to {to_status}.")
        self.from_status = from_status
        self.to_status = to_status


def request_transition(
    *, review_request: ReviewRequest, to: str, reason: str = "", actor=None
) -> ReviewRequest:
    """Move a request to `to` (must be allowed by ReviewRequest.TRANSITIONS). Runs inside the
    caller's transaction; the webhook event and the live update go out on commit."""
    with transaction.atomic():
        current = (
            ReviewRequest.objects.select_for_update()
            .only("status")
            .get(pk=review_request.pk)
            .status
        )
        if to not in ReviewRequest.TRANSITIONS[current]:
            raise IllegalTransition("review request", current, to)
        now = timezone.now()
        review_request.status = to
        fields = ["status", "updated_at"]
        if to == ReviewRequest.Status.COMPLETED:
            review_request.completed_at = now
            fields.append("completed_at")
        if to == ReviewRequest.Status.IN_REVIEW and review_request.first_accepted_at is None:
            review_request.first_accepted_at = now
            fields.append("first_accepted_at")
        review_request.save(update_fields=fields)
        RequestStatusChange.objects.create(
            review_request=review_request,
            from_status=current,
            to_status=to,
            reason=reason[:200],
            actor=actor,
        )
        event_type = EVENT_TYPES.get(to)
        if event_type is not None:
            webhook_event_enqueue(review_request=review_request, event_type=event_type)
        broadcast_on_commit(
            request_group(review_request.pk),
            {"type": "request.status", "review_request_id": str(review_request.pk), "status": to},
        )
    return review_request


def assignment_transition(
    *, assignment: Assignment, to: str, reason: str = "", actor=None
) -> Assignment:
    with transaction.atomic():
        current = Assignment.objects.select_for_update().only("status").get(pk=assignment.pk).status
        if to not in Assignment.TRANSITIONS[current]:
            raise IllegalTransition("assignment", current, to)
        now = timezone.now()
        assignment.status = to
        fields = ["status"]
        if to == Assignment.Status.IN_PROGRESS and assignment.started_at is None:
            assignment.started_at = now
            fields.append("started_at")
        elif to == Assignment.Status.SUBMITTED:
            assignment.submitted_at = now
            fields.append("submitted_at")
        elif to == Assignment.Status.RELEASED:
            assignment.released_at = now
            fields.append("released_at")
        assignment.save(update_fields=fields)
        AssignmentStatusChange.objects.create(
            assignment=assignment,
            from_status=current,
            to_status=to,
            reason=reason[:200],
            actor=actor,
        )
        broadcast_on_commit(
            request_group(assignment.review_request_id),
            {
                "type": "request.status",
                "review_request_id": str(assignment.review_request_id),
                "assignment_id": str(assignment.pk),
                "assignment_status": to,
            },
        )
    return assignment
