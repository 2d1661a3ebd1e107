"""Agreement over many requests (review_requests.agreement computes; this module reads): per
specialization, organization or oversight policy (the units are requests, the coders the
experts), by month of the requests' creation, and per expert over time (their reviews against
their co-reviewers'). Only independent reviews count (never an adjudicator's), and only requests
with at least two of them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.utils import timezone

from experts.selectors import specialization_descendant_q
from review_requests.agreement import (
    NOMINAL,
    ORDINAL,
    alpha_over_units,
    alpha_reading,
    expert_pair_alpha,
    verdict_code,
)
from review_requests.models import Review
from review_requests.oversight_selectors import period_bounds
from review_requests.workspace_selectors import REVIEWED_STATUSES

REQUEST_LIMIT = 5000  # the most recent requests an aggregate reads
REQUEST = "assignment__review_request"


@dataclass(frozen=True)
class AgreementScope:
    """Which requests an aggregate reads (every part optional): an organization's, in a
    specialization or below it, routed by an oversight policy (any of its versions), created in
    the days [first, last] (UTC)."""

    organization_id: Any = None
    specialization_slug: str = ""
    policy_id: Any = None
    first: date | None = None
    last: date | None = None


def _scoped(reviews, scope: AgreementScope):
    if scope.organization_id is not None:
        reviews = reviews.filter(**{f"{REQUEST}__organization_id": scope.organization_id})
    if scope.specialization_slug:
        reviews = reviews.filter(
            specialization_descendant_q(scope.specialization_slug, f"{REQUEST}__specialization__")
        )
    if scope.policy_id is not None:
        reviews = reviews.filter(**{f"{REQUEST}__policy_version__policy_id": scope.policy_id})
    if scope.first is not None:
        start, _ = period_bounds(scope.first, scope.first)
        reviews = reviews.filter(**{f"{REQUEST}__created_at__gte": start})
    if scope.last is not None:
        _, end = period_bounds(scope.last, scope.last)
        reviews = reviews.filter(**{f"{REQUEST}__created_at__lt": end})
    return reviews


def _independent_reviews(*, scope: AgreementScope | None = None, since=None, expert_id=None):
    reviews = Review.objects.filter(
        assignment__adjudicator=False,
        assignment__status__in=REVIEWED_STATUSES,
        **{f"{REQUEST}__reviewers__gte": 2},
    )
    reviews = _scoped(reviews, scope or AgreementScope())
    if since is not None:
        reviews = reviews.filter(submitted_at__gte=since)
    if expert_id is not None:
        reviews = reviews.filter(assignment__expert_id=expert_id)
    return reviews.values(
        f"{REQUEST}_id",
        f"{REQUEST}__created_at",
        f"{REQUEST}__specialization__slug",
        "assignment__expert_id",
        "verdict",
        "scores",
        "submitted_at",
    ).order_by("-submitted_at")[: REQUEST_LIMIT * 5]


def _units(scope: AgreementScope, *, since=None) -> list[list[dict]]:
    """Each request's independent reviews, for the requests with two or more (newest
    submissions first, at most REQUEST_LIMIT requests)."""
    by_request: dict[Any, list[dict]] = defaultdict(list)
    for row in _independent_reviews(scope=scope, since=since):
        by_request[row[f"{REQUEST}_id"]].append(row)
    return [rows for rows in by_request.values() if len(rows) >= 2][:REQUEST_LIMIT]


def _verdict_alpha(units: list[list[dict]]) -> float | None:
    return alpha_over_units(
        [{r["assignment__expert_id"]: verdict_code(r["verdict"]) for r in rows} for rows in units],
        level=NOMINAL,
    )


def _score_alphas(units: list[list[dict]]) -> dict[str, float | None]:
    keys = sorted({k for rows in units for r in rows for k in (r["scores"] or {})})
    return {
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


def agreement_over_requests(
    *, organization_id=None, specialization_slug: str = "", since=None
) -> dict[str, Any]:
    """{"requests": how many, "verdict": alpha (nominal), "scores": {key: alpha (ordinal)}} over
    the requests with two or more independent reviews (of an organization, in a specialization
    or below it, submitted since a time: all optional)."""
    scope = AgreementScope(organization_id=organization_id, specialization_slug=specialization_slug)
    units = _units(scope, since=since)
    return {
        "requests": len(units),
        "verdict": _verdict_alpha(units),
        "scores": _score_alphas(units),
    }


def _months(first: date, last: date) -> list[str]:
    """Every calendar month ("YYYY-MM") the days [first, last] touch, oldest first."""
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _grouped(units: list[list[dict]], key) -> dict[str, list[list[dict]]]:
    groups: dict[str, list[list[dict]]] = defaultdict(list)
    for rows in units:
        groups[key(rows[0])].append(rows)
    return groups


def agreement_report(*, scope: AgreementScope) -> dict[str, Any]:
    """The agreement of the scope's requests (with two or more independent reviews): in all
    (`requests`, `verdict`, `scores`), per specialization of the requests (`by_specialization`:
    slug order) and per month of their creation (`by_month`: every month of [first, last],
    oldest first, zeros included; needs both days)."""
    units = _units(scope)
    by_slug = _grouped(units, lambda row: row[f"{REQUEST}__specialization__slug"])
    by_month = _grouped(units, lambda row: row[f"{REQUEST}__created_at"].strftime("%Y-%m"))
    months = _months(scope.first, scope.last) if scope.first and scope.last else sorted(by_month)
    return {
        "requests": len(units),
        "verdict": _verdict_alpha(units),
        "scores": _score_alphas(units),
        "by_specialization": [
            {"specialization": slug, "requests": len(group), "verdict": _verdict_alpha(group)}
            for slug, group in sorted(by_slug.items())
        ],
        "by_month": [
            {
                "month": month,
                "requests": len(by_month.get(month, [])),
                "verdict": _verdict_alpha(by_month.get(month, [])),
            }
            for month in months
        ],
    }


def expert_agreement_by_month(*, expert_id, since=None) -> dict[str, Any]:
    """One expert's verdicts against each co-reviewer's on the same requests: {"pairs",
    "verdict": alpha, "months": [{"month": "YYYY-MM", "pairs", "verdict"}]} (oldest first),
    the month being that of the expert's submission."""
    theirs = {
        row[f"{REQUEST}_id"]: row for row in _independent_reviews(since=since, expert_id=expert_id)
    }
    others = Review.objects.filter(
        **{f"{REQUEST}_id__in": list(theirs)},
        assignment__adjudicator=False,
        assignment__status__in=REVIEWED_STATUSES,
    ).exclude(assignment__expert_id=expert_id)
    pairs_by_month: dict[str, list[tuple]] = defaultdict(list)
    for row in others.values(f"{REQUEST}_id", "verdict"):
        mine = theirs[row[f"{REQUEST}_id"]]
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


def _months_back(now: datetime, months: int) -> datetime:
    """The start (UTC) of the month `months - 1` months before `now`'s: `months` whole months."""
    index = now.year * 12 + now.month - 1 - (months - 1)
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def expert_agreement_recent(*, expert_id, months: int = 12) -> dict[str, Any]:
    """expert_agreement_by_month over the last `months` calendar months (this one included), as
    the expert's and the operators' pages show it: each alpha with its reading."""
    figures = expert_agreement_by_month(
        expert_id=expert_id, since=_months_back(timezone.now(), months)
    )
    figures["reading"] = alpha_reading(figures["verdict"])
    for month in figures["months"]:
        month["reading"] = alpha_reading(month["verdict"])
    figures["months_back"] = months
    return figures
