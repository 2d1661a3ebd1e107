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


# The list endpoint serializes up to 100 requests per page. Building model instances for them
# (and for their specializations and assignments) cost about half of a page, so it reads plain
# rows instead; tests/review_requests/test_api_read.py pins that both paths give the same objects.
_ROW_FIELDS = (
    "id",
    "status",
    "title",
    "specialization__slug",
    "created_at",
    "updated_at",
    "completed_at",
    "deadline",
    "reviewers",
    "max_hours",
    "max_hourly_rate_cents",
    "waiting_for_funds",
    "metadata",
    "cost_cents",
    "currency",
    "result",
)
_ASSIGNMENT_ROW_FIELDS = (
    "review_request_id",
    "id",
    "status",
    "expert_id",
    "expert__display_name",
    "rate_cents",
    "billed_seconds",
    "max_seconds",
    "cost_cents",
    "accepted_at",
    "submitted_at",
)


def review_requests_to_api_rows(queryset) -> list[dict[str, Any]]:
    """`review_request_to_api` of each request in `queryset` (filtered, ordered and sliced by the
    caller), in its order, from two queries and without model instances."""
    rows = list(queryset.values_list(*_ROW_FIELDS))
    by_request: dict[Any, list[tuple]] = {row[0]: [] for row in rows}
    if rows:
        assignments = Assignment.objects.filter(review_request__in=list(by_request))
        for row in assignments.values_list(*_ASSIGNMENT_ROW_FIELDS):
            by_request[row[0]].append(row)
    data = []
    for (
        pk,
        status,
        title,
        slug,
        created_at,
        updated_at,
        completed_at,
        deadline,
        reviewers,
        max_hours,
        max_hourly_rate_cents,
        waiting_for_funds,
        metadata,
        cost_cents,
        currency,
        result,
    ) in rows:
        # Same order as review_request_to_api: by (accepted_at, id).
        assignments = sorted(by_request[pk], key=lambda a: (a[9], a[1]))
        data.append(
            {
                "id": str(pk),
                "status": status,
                "title": title,
                "specialization": slug,
                "created_at": _iso(created_at),
                "updated_at": _iso(updated_at),
                "completed_at": _iso(completed_at),
                "deadline": _iso(deadline),
                "reviewers": reviewers,
                "max_hours": float(max_hours),
                "max_hourly_rate_cents": max_hourly_rate_cents,
                "waiting_for_funds": waiting_for_funds,
                "metadata": metadata,
                "assignments": [
                    {
                        "id": str(a_id),
                        "status": a_status,
                        "expert": {"id": str(expert_id), "display_name": display_name},
                        "rate_cents": rate_cents,
                        "billed_seconds": billed_seconds,
                        "max_seconds": max_seconds,
                        "cost_cents": a_cost_cents,
                        "accepted_at": _iso(accepted_at),
                        "submitted_at": _iso(submitted_at),
                    }
                    for (
                        _request_id,
                        a_id,
                        a_status,
                        expert_id,
                        display_name,
                        rate_cents,
                        billed_seconds,
                        max_seconds,
                        a_cost_cents,
                        accepted_at,
                        submitted_at,
                    ) in assignments
                ],
                "cost_cents": cost_cents,
                "currency": currency,
                "result": result,
            }
        )
    return data
