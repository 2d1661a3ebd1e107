"""The policy simulator: what changed rules would have done to the items of a past period, from
the stored items and their audits, before the company saves the change.

Each stored item of the period is decided again with `oversight.decide.decide()` (the same pure
function the create path runs) under the new rules, and counted:

- outcomes: how many the new rules would review, sample (audited or not) and auto-approve,
  beside what the stored decisions did with the same items;
- estimated review cost: for each item the new rules send to review, the mean cost of one
  completed review (cost / reviewers) of its specialization in the period, times the reviewers
  it would get; a specialization without a completed review in the period takes the mean over
  all of them (those items are counted in `cost_basis.fallback_items`); with no completed
  review at all there is no estimate (null), never a made-up one;
- estimated miss rate: among stored audited items with a verdict (a random sample of what the
  stored rules let through), those the new rules would not send to review, and of them the
  share reviewers rejected or corrected, with its Wilson 95% interval and the n it rests on.
  Beside it, the same share among every item with a verdict (reviews by rule included): when a
  threshold is lowered, the items newly let through were reviewed before, not audited, so the
  audits alone cannot see them; that figure can (it is not a random sample: read it as such).

Memory stays bounded: the items stream from the database (`values()` rows, `.iterator()`), and
only counters are kept. Three queries: the taxonomy is not read (a slug's ancestors are its
dotted prefixes), the cost basis is one aggregate, the items one streamed select.

The random draws of `decide()` (a rule's `sample`, the audit) are keyed by the stored item's id,
so a simulation is repeatable; the create path keyed them by the Idempotency-Key when there was
one, so for those items the draw can differ from the stored one (the shares do not)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.fields.json import KT

from oversight.decide import Item, decide, specialization_path
from oversight.rules import Rule
from oversight.stats import Share, share
from review_requests.models import ReviewRequest
from review_requests.oversight_selectors import MISS_VERDICTS, period_bounds, sent_to_review

CHUNK = 2000  # rows per fetch while streaming


@dataclass
class OutcomeCounts:
    review: int = 0
    sample_audited: int = 0
    sample_auto_approved: int = 0
    auto_approve: int = 0

    def add(self, outcome: str, audit: bool) -> None:
        if outcome == "sample":
            if audit:
                self.sample_audited += 1
            else:
                self.sample_auto_approved += 1
        elif outcome == "auto_approve":
            self.auto_approve += 1
        else:
            self.review += 1  # "review", or no stored decision (reviewed, as before policies)

    @property
    def sent_to_review(self) -> int:
        return self.review + self.sample_audited

    @property
    def auto_approved(self) -> int:
        return self.auto_approve + self.sample_auto_approved

    def as_dict(self) -> dict[str, int]:
        return {
            "review": self.review,
            "sample_audited": self.sample_audited,
            "sample_auto_approved": self.sample_auto_approved,
            "auto_approve": self.auto_approve,
            "sent_to_review": self.sent_to_review,
            "auto_approved": self.auto_approved,
        }


@dataclass
class CostBasis:
    """Mean cost of one completed review, per specialization slug and over all of them."""

    per_review_cents: dict[str, float]
    overall_cents: float | None
    reviews: int


@dataclass
class Simulation:
    first: date
    last: date
    items: int = 0
    current: OutcomeCounts = field(default_factory=OutcomeCounts)
    simulated: OutcomeCounts = field(default_factory=OutcomeCounts)
    changed: int = 0  # items whose fate (reviewed or not) the new rules change
    newly_reviewed: int = 0
    newly_auto_approved: int = 0
    matched: Counter = field(default_factory=Counter)  # rule index (None: no rule) -> items
    current_cost_cents: float | None = 0.0
    simulated_cost_cents: float | None = 0.0
    fallback_items: int = 0
    basis: CostBasis | None = None
    audit_misses: int = 0
    audits_let_through: int = 0
    verdict_misses: int = 0
    verdicts_let_through: int = 0

    @property
    def miss(self) -> Share:
        return share(self.audit_misses, self.audits_let_through)

    @property
    def miss_all_reviewed(self) -> Share:
        return share(self.verdict_misses, self.verdicts_let_through)


def cost_basis(*, organization, first: date, last: date) -> CostBasis:
    """One aggregate: completed requests of the period, their cost and reviewers, per slug."""
    start, end = period_bounds(first, last)
    rows = (
        ReviewRequest.objects.filter(
            organization=organization,
            status=ReviewRequest.Status.COMPLETED,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values("specialization__slug")
        .annotate(cost=Sum("cost_cents"), reviews=Sum("reviewers"), n=Count("pk"))
        .order_by()
    )
    per_review, total_cost, total_reviews = {}, 0, 0
    for row in rows:
        if row["reviews"]:
            per_review[row["specialization__slug"]] = row["cost"] / row["reviews"]
            total_cost += row["cost"]
            total_reviews += row["reviews"]
    overall = total_cost / total_reviews if total_reviews else None
    return CostBasis(per_review_cents=per_review, overall_cents=overall, reviews=total_reviews)


def _items(*, organization, policy, first: date, last: date):
    start, end = period_bounds(first, last)
    scope = Q(organization=organization, created_at__gte=start, created_at__lt=end)
    if policy is not None:
        scope &= Q(policy_version__policy=policy)
    return (
        ReviewRequest.objects.filter(scope)
        .values(
            "pk",
            "confidence",
            "model_name",
            "metadata",
            "reviewers",
            "oversight_outcome",
            "audit",
            slug=F("specialization__slug"),
            verdict=KT("result__verdict"),
        )
        .order_by()
        .iterator(chunk_size=CHUNK)
    )


def _review_cost(basis: CostBasis, slug: str, reviewers: int) -> float | None:
    per_review = basis.per_review_cents.get(slug, basis.overall_cents)
    return None if per_review is None else per_review * reviewers


def _count(sim: Simulation, row: dict[str, Any], rules: list[Rule]) -> None:
    item = Item(
        confidence=row["confidence"],
        specialization_path=specialization_path(row["slug"]),
        model=row["model_name"] or "",
        metadata=row["metadata"] if isinstance(row["metadata"], dict) else {},
    )
    decision = decide(rules=rules, item=item, key=str(row["pk"]))
    sim.items += 1
    sim.matched[decision.rule_index] += 1
    sim.current.add(row["oversight_outcome"], row["audit"])
    sim.simulated.add(decision.outcome, decision.audit)
    was = sent_to_review(row["oversight_outcome"], row["audit"])
    will = sent_to_review(decision.outcome, decision.audit)
    if was != will:
        sim.changed += 1
        sim.newly_reviewed += will
        sim.newly_auto_approved += was
    basis = sim.basis
    if was and sim.current_cost_cents is not None:
        cost = _review_cost(basis, row["slug"], row["reviewers"])
        sim.current_cost_cents = None if cost is None else sim.current_cost_cents + cost
    if will:
        reviewers = (decision.review.reviewers if decision.review else None) or row["reviewers"]
        if row["slug"] not in basis.per_review_cents:
            sim.fallback_items += 1
        cost = _review_cost(basis, row["slug"], reviewers)
        if sim.simulated_cost_cents is not None:
            sim.simulated_cost_cents = None if cost is None else sim.simulated_cost_cents + cost
    elif row["verdict"]:
        missed = row["verdict"] in MISS_VERDICTS
        sim.verdicts_let_through += 1
        sim.verdict_misses += missed
        if row["audit"]:
            sim.audits_let_through += 1
            sim.audit_misses += missed


def oversight_simulate(
    *, organization, policy, rules: list[Rule], first: date, last: date
) -> Simulation:
    """Re-decide `organization`'s items created in [first, last] under `rules`: those `policy`
    decided, or (policy None) every item of the period, with or without a policy."""
    sim = Simulation(first=first, last=last)
    sim.basis = cost_basis(organization=organization, first=first, last=last)
    for row in _items(organization=organization, policy=policy, first=first, last=last):
        _count(sim, row, rules)
    return sim


def simulation_to_api(sim: Simulation, rules: list[Rule]) -> dict[str, Any]:
    def cents(value: float | None) -> int | None:
        return None if value is None else round(value)

    return {
        "from": sim.first.isoformat(),
        "to": sim.last.isoformat(),
        "items": sim.items,
        "current": sim.current.as_dict(),
        "simulated": sim.simulated.as_dict(),
        "changed": sim.changed,
        "newly_reviewed": sim.newly_reviewed,
        "newly_auto_approved": sim.newly_auto_approved,
        "rules": [
            {"rule": rule.name, "matched": sim.matched.get(index, 0)}
            for index, rule in enumerate(rules)
        ],
        "unmatched": sim.matched.get(None, 0),
        "estimated_review_cost_cents": cents(sim.simulated_cost_cents),
        "current_review_cost_cents": cents(sim.current_cost_cents),
        "currency": "usd",
        "cost_basis": {
            "completed_reviews": sim.basis.reviews if sim.basis else 0,
            "mean_review_cents": cents(sim.basis.overall_cents) if sim.basis else None,
            "fallback_items": sim.fallback_items,
        },
        "estimated_miss_rate": sim.miss.as_dict(),
        "miss_rate_all_reviewed": sim.miss_all_reviewed.as_dict(),
    }
