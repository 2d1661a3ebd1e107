"""The review request object of the public contract (contract/API.md), built in one place so the
API, webhooks and exports always agree."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from review_requests.models import Assignment, ReviewRequest


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _assignment_payload(get: Callable[[str], Any]) -> dict[str, Any]:
    """The contract's assignment object; `get(field)` reads a field (`a__b` follows a relation)
    of a model instance or of a `values()` row alike."""
    return {
        "id": str(get("id")),
        "status": get("status"),
        "expert": {"id": str(get("expert_id")), "display_name": get("expert__display_name")},
        "rate_cents": get("rate_cents"),
        "billed_seconds": get("billed_seconds"),
        "max_seconds": get("max_seconds"),
        "cost_cents": get("cost_cents"),
        "accepted_at": _iso(get("accepted_at")),
        "submitted_at": _iso(get("submitted_at")),
        "adjudicator": get("adjudicator"),
    }


def _oversight_payload(get: Callable[[str], Any]) -> dict[str, Any] | None:
    """What an oversight policy decided, or None when no policy applied (the policy's name and
    version number are read only then: a request without one follows no relation)."""
    outcome = get("oversight_outcome")
    if not outcome:
        return None
    return {
        "policy": get("policy_version__policy__name"),
        "policy_version": get("policy_version__number"),
        "rule": get("policy_rule_name") or None,
        "outcome": outcome,
    }


COMPARISON = ReviewRequest.ContentType.COMPARISON


def _request_payload(
    get: Callable[[str], Any],
    assignments: list[dict[str, Any]],
    *,
    include_result: bool,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract's review request object, fields read as in _assignment_payload. A comparison
    echoes its `content` (candidates with their models: this object is the company's)."""
    data: dict[str, Any] = {
        "id": str(get("id")),
        "status": get("status"),
        "title": get("title"),
        "specialization": get("specialization__slug"),
        "created_at": _iso(get("created_at")),
        "updated_at": _iso(get("updated_at")),
        "completed_at": _iso(get("completed_at")),
        "deadline": _iso(get("deadline")),
        "reviewers": get("reviewers"),
        "blind": get("blind"),
        "four_eyes": get("four_eyes"),
        "adjudication_wanted": get("adjudication_wanted_at") is not None,
        "max_hours": float(get("max_hours")),
        "max_hourly_rate_cents": get("max_hourly_rate_cents"),
        "waiting_for_funds": get("waiting_for_funds"),
        "metadata": get("metadata"),
        "assignments": assignments,
        "cost_cents": get("cost_cents"),
        "currency": get("currency"),
        "confidence": get("confidence"),
        "audit": get("audit"),
        "oversight": _oversight_payload(get),
    }
    if content is not None:
        data["content"] = content
    if include_result:
        data["result"] = get("result")
    return data


def _comparison_content(review_request: ReviewRequest) -> dict[str, Any] | None:
    return review_request.content if review_request.content_type == COMPARISON else None


def _fields_of(instance) -> Callable[[str], Any]:
    return lambda name: attrgetter(name.replace("__", "."))(instance)


def _in_contract_order(assignments: list, fields_of: Callable) -> list:
    """Released assignments were given back or reassigned; the contract still lists them, in
    the order they were accepted."""
    return sorted(assignments, key=lambda a: (fields_of(a)("accepted_at"), fields_of(a)("id")))


def assignment_to_api(assignment: Assignment) -> dict[str, Any]:
    return _assignment_payload(_fields_of(assignment))


def review_request_to_api(
    review_request: ReviewRequest, *, include_result: bool = True
) -> dict[str, Any]:
    """Expects `assignments__expert` prefetched when serializing many (see selectors)."""
    assignments = _in_contract_order(list(review_request.assignments.all()), _fields_of)
    return _request_payload(
        _fields_of(review_request),
        [assignment_to_api(a) for a in assignments],
        include_result=include_result,
        content=_comparison_content(review_request),
    )


def created_review_request_to_api(review_request: ReviewRequest) -> dict[str, Any]:
    """`review_request_to_api` of a request just created, which has no assignments yet: no
    query."""
    return _request_payload(
        _fields_of(review_request),
        [],
        include_result=True,
        content=_comparison_content(review_request),
    )


# The list endpoint serializes up to 100 requests per page. Building model instances for them
# (and for their specializations and assignments) cost about half of a page, so it reads plain
# rows instead, through the same payload builders; tests/review_requests/test_api_read.py pins
# that both paths give the same objects.
REQUEST_ROW_FIELDS = (
    "id",
    "status",
    "title",
    "specialization__slug",
    "created_at",
    "updated_at",
    "completed_at",
    "deadline",
    "reviewers",
    "blind",
    "four_eyes",
    "adjudication_wanted_at",
    "max_hours",
    "max_hourly_rate_cents",
    "waiting_for_funds",
    "metadata",
    "cost_cents",
    "currency",
    "result",
    "confidence",
    "audit",
    "oversight_outcome",
    "policy_rule_name",
    "policy_version__number",
    "policy_version__policy__name",
    "content_type",
)
ASSIGNMENT_ROW_FIELDS = (
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
    "adjudicator",
)


def _row_fields(row: dict[str, Any]) -> Callable[[str], Any]:
    return row.__getitem__


def review_requests_to_api_rows(queryset) -> list[dict[str, Any]]:
    """`review_request_to_api` of each request in `queryset` (filtered, ordered and sliced by the
    caller), in its order, from two queries and without model instances."""
    rows = list(queryset.values(*REQUEST_ROW_FIELDS))
    by_request: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    if rows:
        assignments = Assignment.objects.filter(review_request__in=list(by_request))
        for row in assignments.values(*ASSIGNMENT_ROW_FIELDS):
            by_request[row["review_request_id"]].append(row)
    # A comparison echoes its content: read only for the comparisons of the page (one query
    # when there is one, none otherwise; the other outputs are not part of the object).
    compared = [row["id"] for row in rows if row["content_type"] == COMPARISON]
    contents = dict(
        ReviewRequest.objects.filter(pk__in=compared).values_list("id", "content")
        if compared
        else []
    )
    return [
        _request_payload(
            _row_fields(row),
            [
                _assignment_payload(_row_fields(a))
                for a in _in_contract_order(by_request[row["id"]], _row_fields)
            ],
            include_result=True,
            content=contents.get(row["id"]),
        )
        for row in rows
    ]
