"""Reads for the operator console: aggregates across every app (the console is composition)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from billing.models import LedgerAccount, LedgerEntry, Payout
from experts.models import Credential
from experts.selectors import experts_available_by_top_level
from marketplace.models import AuditLog, Organization, User
from review_requests.models import Dispute, Offer, ReviewRequest

Kind = LedgerAccount.Kind

QUEUED_LONG_AFTER = timedelta(hours=1)
AT_RISK_BUFFER = timedelta(hours=1)
PAYOUT_STUCK_AFTER = timedelta(days=2)
DISPUTE_FLAG_AFTER = timedelta(days=14)
DISPUTE_AGE_BUCKETS: list[tuple[str, timedelta, timedelta | None]] = [
    ("under 1 day", timedelta(0), timedelta(days=1)),
    ("1–3 days", timedelta(days=1), timedelta(days=3)),
    ("3–7 days", timedelta(days=3), timedelta(days=7)),
    ("7–14 days", timedelta(days=7), timedelta(days=14)),
    ("over 14 days", timedelta(days=14), None),
]


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (the value below which `pct`% of the sorted values fall)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


# Queue health --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueHealth:
    queued: int
    in_review: int
    expired_7d: int
    disputed: int
    waiting_for_funds: int
    offers_outstanding: int
    first_accept_p50_seconds: float | None
    first_accept_p95_seconds: float | None
    first_accept_sample: int
    at_risk: int


def requests_at_risk(*, now: datetime) -> QuerySet[ReviewRequest]:
    """Open requests whose deadline is closer than the most time the work may still take
    (max_hours) plus a buffer: without action they will likely miss it."""
    open_with_deadline = ReviewRequest.objects.filter(
        status__in=[ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW],
        deadline__isnull=False,
        deadline__lte=now + timedelta(hours=41),  # max_hours is at most 40
    )
    ids = [
        pk
        for pk, deadline, max_hours in open_with_deadline.values_list("pk", "deadline", "max_hours")
        if deadline - now < timedelta(hours=float(max_hours)) + AT_RISK_BUFFER
    ]
    return ReviewRequest.objects.filter(pk__in=ids)


def queue_health(*, now: datetime) -> QueueHealth:
    counts = dict(
        ReviewRequest.objects.filter(
            status__in=[
                ReviewRequest.Status.QUEUED,
                ReviewRequest.Status.IN_REVIEW,
                ReviewRequest.Status.DISPUTED,
            ]
        )
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    week_ago = now - timedelta(days=7)
    waits = [
        (accepted - created).total_seconds()
        for created, accepted in ReviewRequest.objects.filter(
            created_at__gte=week_ago, first_accepted_at__isnull=False
        ).values_list("created_at", "first_accepted_at")
    ]
    return QueueHealth(
        queued=counts.get(ReviewRequest.Status.QUEUED, 0),
        in_review=counts.get(ReviewRequest.Status.IN_REVIEW, 0),
        disputed=counts.get(ReviewRequest.Status.DISPUTED, 0),
        expired_7d=ReviewRequest.objects.filter(
            status=ReviewRequest.Status.EXPIRED, updated_at__gte=week_ago
        ).count(),
        waiting_for_funds=ReviewRequest.objects.filter(
            status=ReviewRequest.Status.QUEUED, waiting_for_funds=True
        ).count(),
        offers_outstanding=Offer.objects.filter(
            status=Offer.Status.OPEN, expires_at__gt=now
        ).count(),
        first_accept_p50_seconds=percentile(waits, 50),
        first_accept_p95_seconds=percentile(waits, 95),
        first_accept_sample=len(waits),
        at_risk=requests_at_risk(now=now).count(),
    )


# Money by week --------------------------------------------------------------------------------

MONEY_SERIES = [
    ("funding", "Funding"),
    ("captured", "Captured"),
    ("fees", "Fees"),
    ("payouts", "Payouts"),
    ("refunds", "Refunds"),
]


@dataclass
class MoneyWeek:
    week: datetime
    funding: int = 0
    captured: int = 0
    fees: int = 0
    payouts: int = 0
    refunds: int = 0


def _has_line(kinds: Sequence[str], *, negative: bool) -> Exists:
    amount = Q(amount_cents__lt=0) if negative else Q(amount_cents__gt=0)
    return Exists(
        LedgerEntry.objects.filter(
            amount, transaction=OuterRef("transaction"), account__kind__in=kinds
        )
    )


def _weekly(qs: QuerySet[LedgerEntry]) -> dict[datetime, int]:
    rows = (
        qs.annotate(week=TruncWeek("created_at")).values("week").annotate(total=Sum("amount_cents"))
    )
    return {row["week"]: int(row["total"] or 0) for row in rows}


def money_by_week(*, now: datetime, weeks: int = 8) -> list[MoneyWeek]:
    """Classified by the accounts a transaction touches, not by reason names, so every posting
    the billing app makes lands in a column:
    - funding: company available credited from Stripe clearing or operator credit;
    - captured: expert pending and platform fees credited out of a company hold;
    - fees: net movement of the platform fees account (refunded fees reduce it);
    - payouts: expert paid-out credited;
    - refunds: company available credited out of an expert's or the platform's money."""
    this_monday = (timezone.localtime(now) - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = this_monday - timedelta(weeks=weeks - 1)
    entries = LedgerEntry.objects.filter(created_at__gte=start)
    columns = {
        "funding": _weekly(
            entries.filter(account__kind=Kind.COMPANY_AVAILABLE, amount_cents__gt=0).filter(
                _has_line([Kind.PLATFORM_STRIPE_CLEARING, Kind.PLATFORM_CREDIT], negative=True)
            )
        ),
        "captured": _weekly(
            entries.filter(
                account__kind__in=[Kind.EXPERT_PENDING, Kind.PLATFORM_FEES], amount_cents__gt=0
            ).filter(_has_line([Kind.COMPANY_HELD], negative=True))
        ),
        "fees": _weekly(entries.filter(account__kind=Kind.PLATFORM_FEES)),
        "payouts": _weekly(entries.filter(account__kind=Kind.EXPERT_PAID_OUT, amount_cents__gt=0)),
        "refunds": _weekly(
            entries.filter(account__kind=Kind.COMPANY_AVAILABLE, amount_cents__gt=0).filter(
                _has_line(
                    [
                        Kind.EXPERT_PENDING,
                        Kind.EXPERT_AVAILABLE,
                        Kind.EXPERT_PAID_OUT,
                        Kind.PLATFORM_FEES,
                        Kind.PLATFORM_REFUNDS,
                    ],
                    negative=True,
                )
            )
        ),
    }
    result = []
    for i in range(weeks):
        week = start + timedelta(weeks=i)
        row = MoneyWeek(week=week)
        for name, by_week in columns.items():
            setattr(row, name, sum(v for k, v in by_week.items() if _same_week(k, week)))
        result.append(row)
    return result


def _same_week(value: datetime | None, week_start: datetime) -> bool:
    if value is None:
        return False
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return week_start <= value < week_start + timedelta(weeks=1)


# Supply ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supply:
    available_by_field: list[tuple[str, int]]  # every top-level field, zeros included
    pending_verifications: int

    @property
    def available_total(self) -> int:
        """Experts counted once per field they are available in (an expert may hold two)."""
        return sum(n for _, n in self.available_by_field)


def supply(*, now: datetime) -> Supply:
    return Supply(
        available_by_field=experts_available_by_top_level(now=now),
        pending_verifications=Credential.objects.filter(status=Credential.Status.PENDING).count(),
    )


# Disputes by age --------------------------------------------------------------------------------


def open_disputes_by_age(*, now: datetime) -> list[tuple[str, int]]:
    created = list(
        Dispute.objects.exclude(status=Dispute.Status.RESOLVED).values_list("created_at", flat=True)
    )
    buckets = []
    for label, low, high in DISPUTE_AGE_BUCKETS:
        buckets.append(
            (label, sum(1 for c in created if now - c >= low and (high is None or now - c < high)))
        )
    return buckets


# Lists with filters ------------------------------------------------------------------------------


STUCK_KINDS = {
    "queued_long": "Queued over an hour",
    "waiting_for_funds": "Waiting for funds",
    "at_risk": "At risk of missing the deadline",
}


def stuck_requests(*, kind: str, now: datetime) -> QuerySet[ReviewRequest]:
    qs = ReviewRequest.objects.select_related("organization", "specialization")
    if kind == "waiting_for_funds":
        qs = qs.filter(status=ReviewRequest.Status.QUEUED, waiting_for_funds=True)
    elif kind == "at_risk":
        qs = qs.filter(pk__in=requests_at_risk(now=now).values("pk"))
    else:
        qs = qs.filter(status=ReviewRequest.Status.QUEUED, created_at__lte=now - QUEUED_LONG_AFTER)
    return qs.annotate(
        open_offers=Count("offers", filter=Q(offers__status=Offer.Status.OPEN), distinct=True)
    ).order_by("created_at")


def request_get_for_operator(*, pk) -> ReviewRequest:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        ReviewRequest.objects.select_related("organization", "specialization"), pk=pk
    )


PAYOUT_FILTERS = {
    "stuck": "Stuck (failed, awaiting Stripe, or sent over 2 days ago)",
    "failed": "Failed",
    "awaiting_stripe": "Awaiting Stripe",
    "all": "All",
}


def payouts_for_console(*, kind: str, now: datetime) -> QuerySet[Payout]:
    qs = Payout.objects.select_related("user").order_by("-created_at", "-id")
    if kind == "failed":
        return qs.filter(status=Payout.Status.FAILED)
    if kind == "awaiting_stripe":
        return qs.filter(status=Payout.Status.AWAITING_STRIPE)
    if kind == "all":
        return qs
    return qs.filter(
        Q(status__in=[Payout.Status.FAILED, Payout.Status.AWAITING_STRIPE])
        | Q(status=Payout.Status.PENDING, created_at__lte=now - timedelta(hours=1))
        | Q(status=Payout.Status.SENT, sent_at__lte=now - PAYOUT_STUCK_AFTER)
    )


def users_search(*, q: str = "", account_type: str = "", suspended: str = "") -> QuerySet[User]:
    qs = User.objects.order_by("email")
    q = q.strip()
    if q:
        qs = qs.filter(
            Q(email__icontains=q)
            | Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(memberships__organization__name__icontains=q)
        ).distinct()
    if account_type in User.AccountType.values:
        qs = qs.filter(account_type=account_type)
    if suspended == "yes":
        qs = qs.filter(suspended_at__isnull=False)
    elif suspended == "no":
        qs = qs.filter(suspended_at__isnull=True)
    return qs


def organizations_with_balances(*, q: str = "") -> QuerySet[Organization]:
    qs = Organization.objects.order_by("name")
    if q.strip():
        qs = qs.filter(Q(name__icontains=q.strip()) | Q(slug__icontains=q.strip()))
    available = LedgerAccount.objects.filter(
        kind=Kind.COMPANY_AVAILABLE, organization=OuterRef("pk"), currency="usd"
    ).values("balance_cents")[:1]
    held = LedgerAccount.objects.filter(
        kind=Kind.COMPANY_HELD, organization=OuterRef("pk"), currency="usd"
    ).values("balance_cents")[:1]
    from django.db.models import Subquery

    return qs.annotate(available_cents=Subquery(available), held_cents=Subquery(held))


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    object: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    extra: dict = field(default_factory=dict)


def audit_search(*, filters: AuditFilters) -> QuerySet[AuditLog]:
    qs = AuditLog.objects.select_related("organization").order_by("-created_at", "-id")
    if filters.actor:
        qs = qs.filter(actor_label__icontains=filters.actor)
    if filters.action:
        qs = qs.filter(action__icontains=filters.action)
    if filters.object:
        value = filters.object
        if ":" in value:
            object_type, object_id = value.split(":", 1)
            qs = qs.filter(object_type=object_type.strip(), object_id=object_id.strip())
        else:
            qs = qs.filter(Q(object_id=value) | Q(object_type=value))
    if filters.date_from:
        qs = qs.filter(created_at__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(created_at__lt=filters.date_to)
    return qs


def disputes_for_console(
    *, status: str = "", category: str = "", flagged: str = "", q: str = ""
) -> QuerySet[Dispute]:
    qs = Dispute.objects.select_related(
        "organization",
        "assignment__expert__user",
        "assignment__review_request",
        "decided_by",
    ).order_by(F("flagged_at").desc(nulls_last=True), "created_at")
    if status in Dispute.Status.values:
        qs = qs.filter(status=status)
    elif status != "all":
        qs = qs.exclude(status=Dispute.Status.RESOLVED)
    if category in Dispute.Category.values:
        qs = qs.filter(category=category)
    if flagged == "yes":
        qs = qs.filter(flagged_at__isnull=False)
    if q.strip():
        qs = qs.filter(
            Q(organization__name__icontains=q.strip())
            | Q(assignment__review_request__title__icontains=q.strip())
            | Q(assignment__expert__display_name__icontains=q.strip())
        )
    return qs
