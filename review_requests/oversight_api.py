"""What a policy did and what changed rules would do, by API: the figures of an oversight policy
per week and per rule, and the simulator (docs/contract/oversight-figures.md). Mounted beside the
oversight router (`oversight/api.py`, the policies themselves) under /api/v1/oversight-policies;
here because the figures read review requests, which `oversight` does not import."""

from __future__ import annotations

from datetime import date, timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from marketplace.api import ApiError, company_auth, errors
from marketplace.schema_types import Day
from oversight.rules import Rules
from oversight.selectors import policy_get_for_organization
from review_requests.oversight_selectors import figures_to_api, oversight_figures
from review_requests.oversight_simulator import oversight_simulate, simulation_to_api

router = Router(tags=["oversight"])

STATS_DEFAULT_DAYS = 12 * 7
SIMULATE_DEFAULT_DAYS = 30
MAX_PERIOD_DAYS = 366


class Period(BaseModel):
    """`from` and `to` are days (both counted whole, UTC); `to` defaults to today."""

    model_config = ConfigDict(populate_by_name=True)

    first: Day | None = Field(default=None, alias="from", description="First day (UTC).")
    last: Day | None = Field(default=None, alias="to", description="Last day (UTC).")

    def resolved(self, default_days: int) -> tuple[date, date]:
        """(first, last), defaults filled in; a 422 naming `from` when they are out of order or
        more than MAX_PERIOD_DAYS apart (checked here, with the defaults, not by the model)."""
        last = self.last or timezone.now().date()
        first = self.first or last - timedelta(days=default_days - 1)
        if first > last or (last - first).days >= MAX_PERIOD_DAYS:
            raise ApiError(
                422,
                "validation_error",
                f"from must be on or before to, at most {MAX_PERIOD_DAYS} days apart.",
                field="from",
            )
        return first, last


class SimulateIn(Period):
    rules: Rules
    scope: str = Field(
        default="policy",
        pattern="^(policy|organization)$",
        description='"policy": the items this policy decided; "organization": every item of '
        "the period, with or without a policy.",
    )


class ShareOut(BaseModel):
    successes: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


class CountsOut(BaseModel):
    seen: int
    sent_to_review: int
    sampled: int
    auto_approved: int
    audits: int
    audits_reviewed: int
    audit_misses: int
    audit_miss_rate: ShareOut
    reviews_reviewed: int
    review_misses: int
    review_miss_rate: ShareOut


class WeekOut(CountsOut):
    week_start: date


class RuleOut(CountsOut):
    rule: str | None
    versions: list[int]


class StatsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    policy: str
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    weeks: list[WeekOut]
    rules: list[RuleOut]
    totals: CountsOut


class OutcomesOut(BaseModel):
    review: int
    sample_audited: int
    sample_auto_approved: int
    auto_approve: int
    sent_to_review: int
    auto_approved: int


class RuleMatchOut(BaseModel):
    rule: str
    matched: int


class CostBasisOut(BaseModel):
    completed_reviews: int
    mean_review_cents: int | None
    fallback_items: int


class SimulationOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    policy: str
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    items: int
    current: OutcomesOut
    simulated: OutcomesOut
    changed: int
    newly_reviewed: int
    newly_auto_approved: int
    rules: list[RuleMatchOut]
    unmatched: int
    estimated_review_cost_cents: int | None
    current_review_cost_cents: int | None
    currency: str
    cost_basis: CostBasisOut
    estimated_miss_rate: ShareOut
    miss_rate_all_reviewed: ShareOut


def _policy(request: HttpRequest, name: str):
    """The organization's policy by name; another organization's (or none) is a 404."""
    policy = policy_get_for_organization(organization=request.organization, name=name)
    if policy is None:
        raise ApiError(404, "not_found", f"No oversight policy named {name!r}.")
    return policy


@router.get(
    "/oversight-policies/{name}/stats",
    auth=company_auth,
    response={200: StatsOut, **errors(401, 404, 422, 429)},
    summary="What an oversight policy did, per week and per rule",
    by_alias=True,
)
def oversight_policy_stats(request: HttpRequest, name: str, period: Query[Period]):
    """Items seen, sent to review, sampled and auto-approved, and the audit miss rate (the share
    of audited items reviewers rejected or corrected) with its Wilson 95% interval."""
    policy = _policy(request, name)
    first, last = period.resolved(STATS_DEFAULT_DAYS)
    current = policy.current_version()
    order = [rule["name"] for rule in current.rules] if current else []
    figures = oversight_figures(policy=policy, first=first, last=last, rule_order=order)
    return {"policy": policy.name, **figures_to_api(figures)}


@router.post(
    "/oversight-policies/{name}/simulate",
    auth=company_auth,
    response={200: SimulationOut, **errors(400, 401, 404, 413, 422, 429)},
    summary="What changed rules would have done to a past period",
    by_alias=True,
)
def oversight_policy_simulate(request: HttpRequest, name: str, payload: SimulateIn):
    """Re-decides the stored items of the period under `rules` (nothing is saved): outcomes,
    estimated review cost and estimated miss rate, beside what the stored decisions did."""
    policy = _policy(request, name)
    first, last = payload.resolved(SIMULATE_DEFAULT_DAYS)
    simulation = oversight_simulate(
        organization=request.organization,
        policy=policy if payload.scope == "policy" else None,
        rules=payload.rules,
        first=first,
        last=last,
    )
    return {"policy": policy.name, **simulation_to_api(simulation, payload.rules)}
