"""What an oversight policy did, read from the stored review requests it decided: per week and per
rule, items seen, sent to review, sampled and auto-approved; and from the audits (sampled items
sent to review), the share reviewers rejected or corrected, with its Wilson 95% interval.

One aggregate query per call, whatever the period or the number of rules: the database groups
the policy's requests by week, version, rule, outcome and audit flag and counts them (and their
verdicts) in one pass; the few rows it returns are folded here by `oversight.stats`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek

from oversight.stats import Share, fill_weeks, share, week_start
from review_requests.models import ReviewRequest

# A reviewer's verdict that says the AI output was not fit as it was.
MISS_VERDICTS = ("rejected", "corrected")
NO_RULE = None  # the rule of items no rule matched (sent to review, as without a policy)


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in UTC: both days count whole."""
    return (
        datetime.combine(first, time.min, tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC),
    )


def sent_to_review(outcome: str, audit: bool) -> bool:
    """Whether a decision put the item before a human: a review, an audited sample, or no
    policy decision at all (outcome "": reviewed, as before policies)."""
    return outcome in ("review", "") or (outcome == "sample" and audit)


@dataclass
class Counts:
    """What a group of items went through. `audits_reviewed`/`audit_misses` count audits with a
    verdict and those rejected or corrected; `reviews_reviewed`/`review_misses` the same for
    items reviewed because a rule said so (not a random sample of what was auto-approved, so
    kept apart from the audit figure)."""

    seen: int = 0
    sent_to_review: int = 0
    sampled: int = 0
    auto_approved: int = 0
    audits: int = 0
    audits_reviewed: int = 0
    audit_misses: int = 0
    reviews_reviewed: int = 0
    review_misses: int = 0

    def add(self, *, outcome: str, audit: bool, n: int, verdicts: int, misses: int) -> None:
        self.seen += n
        if outcome == "sample":
            self.sampled += n
        if sent_to_review(outcome, audit):
            self.sent_to_review += n
        else:
            self.auto_approved += n
        if audit:
            self.audits += n
            self.audits_reviewed += verdicts
            self.audit_misses += misses
        elif sent_to_review(outcome, audit):
            self.reviews_reviewed += verdicts
            self.review_misses += misses

    @property
    def audit_miss(self) -> Share:
        return share(self.audit_misses, self.audits_reviewed)

    @property
    def review_miss(self) -> Share:
        return share(self.review_misses, self.reviews_reviewed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "sent_to_review": self.sent_to_review,
            "sampled": self.sampled,
            "auto_approved": self.auto_approved,
            "audits": self.audits,
            "audits_reviewed": self.audits_reviewed,
            "audit_misses": self.audit_misses,
            "audit_miss_rate": self.audit_miss.as_dict(),
            "reviews_reviewed": self.reviews_reviewed,
            "review_misses": self.review_misses,
            "review_miss_rate": self.review_miss.as_dict(),
        }


@dataclass
class RuleFigures:
    rule: str | None  # None: no rule matched
    versions: list[int] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)


@dataclass
class PolicyFigures:
    first: date
    last: date
    weeks: list[tuple[date, Counts]]
    rules: list[RuleFigures]
    totals: Counts


def oversight_figures_rows(*, policy, first: date, last: date) -> list[dict[str, Any]]:
    """The one query: counts per (week, version, rule, outcome, audit) of `policy`'s items
    created in [first, last]."""
    start, end = period_bounds(first, last)
    return list(
        ReviewRequest.objects.filter(
            policy_version__policy=policy, created_at__gte=start, created_at__lt=end
        )
        .annotate(week=TruncWeek("created_at"))
        .values("week", "policy_version__number", "policy_rule_name", "oversight_outcome", "audit")
        .annotate(
            n=Count("pk"),
            verdicts=Count("pk", filter=Q(result__verdict__isnull=False)),
            misses=Count("pk", filter=Q(result__verdict__in=MISS_VERDICTS)),
        )
        .order_by()
    )


def _week_of(value) -> date:
    # TruncWeek gives an aware datetime on PostgreSQL and SQLite alike (USE_TZ, UTC).
    return week_start(value.date() if isinstance(value, datetime) else value)


def oversight_figures(
    *, policy, first: date, last: date, rule_order: list[str] | None = None
) -> PolicyFigures:
    """Figures of `policy` over [first, last]: one Counts per week (every week, zeros
    included), per rule (by name, across versions; `rule_order` first, in that order, then any
    other in name order, then "no rule matched"), and in all."""
    weeks: dict[date, Counts] = {}
    rules: dict[str | None, RuleFigures] = {}
    totals = Counts()
    for row in oversight_figures_rows(policy=policy, first=first, last=last):
        counted = {
            "outcome": row["oversight_outcome"],
            "audit": row["audit"],
            "n": row["n"],
            "verdicts": row["verdicts"],
            "misses": row["misses"],
        }
        weeks.setdefault(_week_of(row["week"]), Counts()).add(**counted)
        name = row["policy_rule_name"] or NO_RULE
        figures = rules.setdefault(name, RuleFigures(rule=name))
        figures.counts.add(**counted)
        if row["policy_version__number"] not in figures.versions:
            figures.versions.append(row["policy_version__number"])
        totals.add(**counted)
    for figures in rules.values():
        figures.versions.sort()
    order = {name: index for index, name in enumerate(rule_order or [])}
    ranked = sorted(
        rules.values(),
        key=lambda f: (f.rule is None, order.get(f.rule, len(order)), f.rule or ""),
    )
    return PolicyFigures(
        first=first,
        last=last,
        # One shared empty Counts for the quiet weeks: nothing adds to it after this.
        weeks=fill_weeks(weeks.items(), first=first, last=last, empty=Counts()),
        rules=ranked,
        totals=totals,
    )


def figures_to_api(figures: PolicyFigures) -> dict[str, Any]:
    return {
        "from": figures.first.isoformat(),
        "to": figures.last.isoformat(),
        "weeks": [
            {"week_start": monday.isoformat(), **counts.as_dict()}
            for monday, counts in figures.weeks
        ],
        "rules": [
            {"rule": rule.rule, "versions": rule.versions, **rule.counts.as_dict()}
            for rule in figures.rules
        ],
        "totals": figures.totals.as_dict(),
    }
