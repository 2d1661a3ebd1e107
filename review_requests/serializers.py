"""The review request object of the public contract (contract/API.md), built in one place so the
API, webhooks and exports always agree."""

from __future__ import annotations

from typing import Any

from review_requests.models import Assignment, ReviewRequest

# Released assignments were given back or reassigned; the contract still lists them.
_ASSIGNMENT_ORDER = ("accepted_at", "id")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def assignment_to_api(assignment: Assignment) -> dict[str, Any]:
    return {
        "id": str(assignment.id),
        "status": assignment.status,
        "expert": {"id": str(assignment.expert_id), "display_name": assignment.expert.display_name},
        "rate_cents": assignment.rate_cents,
        "billed_seconds": assignment.billed_seconds,
        "max_seconds": assignment.max_seconds,
        "cost_cents": assignment.cost_cents,
        "accepted_at": _iso(assignment.accepted_at),
        "submitted_at": _iso(assignment.submitted_at),
    }


def review_request_to_api(
    review_request: ReviewRequest, *, include_result: bool = True
) -> dict[str, Any]:
    """Expects `assignments__expert` prefetched when serializing many (see selectors)."""
    assignments = sorted(
        review_request.assignments.all(),
        key=lambda a: tuple(getattr(a, f) for f in _ASSIGNMENT_ORDER),
    )
    data: dict[str, Any] = {
        "id": str(review_request.id),
        "status": review_request.status,
        "title": review_request.title,
        "specialization": review_request.specialization.slug,
        "created_at": _iso(review_request.created_at),
        "updated_at": _iso(review_request.updated_at),
        "completed_at": _iso(review_request.completed_at),
        "deadline": _iso(review_request.deadline),
        "reviewers": review_request.reviewers,
        "max_hours": float(review_request.max_hours),
        "max_hourly_rate_cents": review_request.max_hourly_rate_cents,
        "waiting_for_funds": review_request.waiting_for_funds,
        "metadata": review_request.metadata,
        "assignments": [assignment_to_api(a) for a in assignments],
        "cost_cents": review_request.cost_cents,
        "currency": review_request.currency,
    }
    if include_result:
        data["result"] = review_request.result
    return data
