"""Agreement over many requests (review_requests.agreement computes; this module reads): per
specialization or organization (the units are requests, the coders the experts), and per expert
over time (their reviews against their co-reviewers'). Only independent reviews count (never an
adjudicator's), and only requests with at least two of them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Q

from review_requests.agreement import (
    NOMINAL,
    ORDINAL,
    alpha_over_units,
    expert_pair_alpha,
    verdict_code,
)
from review_requests.models import Review
from review_requests.workspace_selectors import REVIEWED_STATUSES

REQUEST_LIMIT = 5000  # the most recent requests an aggregate reads


def _independent_reviews(
    *, organization_id=None, specialization_slug: str = "", since=None, expert_id=None
):
    reviews = Review.objects.filter(
        assignment__adjudicator=False,
        assignment__status__in=REVIEWED_STATUSES,
        assignment__review_request__reviewers__gte=2,
    )
    if organization_id is not None:
        reviews = reviews.filter(assignment__review_request__organization_id=organization_id)
    if specialization_slug:
        slug = "assignment__review_request__specialization__slug"
        reviews = reviews.filter(
            Q(**{slug: specialization_slug})
            | Q(**{f"{slug}__startswith": f"{specialization_slug}."})
        )
    if since is not None:
        reviews = reviews.filter(submitted_at__gte=since)
    if expert_id is not None:
        reviews = reviews.filter(assignment__expert_id=expert_id)
    return reviews.values(
        "assignment__review_request_id",
        "assignment__expert_id",
        "verdict",
        "scores",
        "submitted_at",
    ).order_by("-submitted_at")[: REQUEST_LIMIT * 5]


def agreement_over_requests(
    *, organization_id=None, specialization_slug: str = "", since=None
) -> dict[str, Any]:
    """{"requests": how many, "verdict": alpha (nominal), "scores": {key: alpha (ordinal)}} over
    the requests with two or more independent reviews (of an organization, in a specialization
    or below it, submitted since a time: all optional)."""
    by_request: dict[Any, list[dict]] = defaultdict(list)
    for row in _independent_reviews(
        organization_id=organization_id, specialization_slug=specialization_slug, since=since
    ):
        by_request[row["assignment__review_request_id"]].append(row)
    units = [rows for rows in by_request.values() if len(rows) >= 2][:REQUEST_LIMIT]
    verdicts = [
        {r["assignment__expert_id"]: verdict_code(r["verdict"]) for r in rows} for rows in units
    ]
    keys = sorted({k for rows in units for r in rows for k in (r["scores"] or {})})
    scores = {
        key: alpha_over_units(
            [
                {
                    r["assignment__expert_id"]: (r["scores"] or {}).get(key)
                    for r in rows
                    if isinstance((r["scores"] or {}).get(key), int | float)
                }
                for rows in units
            ],
            level=ORDINAL,
        )
        for key in keys
    }
    return {
        "requests": len(units),
        "verdict": alpha_over_units(verdicts, level=NOMINAL),
        "scores": scores,
    }


def expert_agreement_by_month(*, expert_id, since=None) -> dict[str, Any]:
    """One expert's verdicts against each co-reviewer's on the same requests: {"pairs",
    "verdict": alpha, "months": [{"month": "YYYY-MM", "pairs", "verdict"}]} (oldest first),
    the month being that of the expert's submission."""
    theirs = {
        row["assignment__review_request_id"]: row
        for row in _independent_reviews(since=since, expert_id=expert_id)
    }
    others = Review.objects.filter(
        assignment__review_request_id__in=list(theirs),
        assignment__adjudicator=False,
        assignment__status__in=REVIEWED_STATUSES,
    ).exclude(assignment__expert_id=expert_id)
    pairs_by_month: dict[str, list[tuple]] = defaultdict(list)
    for row in others.values("assignment__review_request_id", "verdict"):
        mine = theirs[row["assignment__review_request_id"]]
        month = mine["submitted_at"].strftime("%Y-%m")
        pairs_by_month[month].append((verdict_code(mine["verdict"]), verdict_code(row["verdict"])))
    every = [pair for pairs in pairs_by_month.values() for pair in pairs]
    return {
        "pairs": len(every),
        "verdict": expert_pair_alpha(every, level=NOMINAL),
        "months": [
            {
                "month": month,
                "pairs": len(pairs_by_month[month]),
                "verdict": expert_pair_alpha(pairs_by_month[month], level=NOMINAL),
            }
            for month in sorted(pairs_by_month)
        ],
    }
