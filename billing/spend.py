"""What a company spent on reviews: charges (the expert's billed time plus the fee) less refunds,
by month and by what the review was for (billing.words' subject group: the specialization).
Platform-paid reworks cost the company nothing and are left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from django.db.models import F, Sum
from django.db.models.functions import TruncMonth

from billing import words
from billing.models import Earning, Hold, Refund
from billing.selectors import month_bounds


@dataclass(frozen=True)
class SpendRow:
    label: str
    charged_cents: int
    refunded_cents: int

    @property
    def net_cents(self) -> int:
        return self.charged_cents - self.refunded_cents


def _charges(organization):
    return Earning.objects.filter(organization=organization, payer=Hold.Payer.COMPANY)


def _refunds(organization):
    return Refund.objects.filter(
        earning__organization=organization, earning__payer=Hold.Payer.COMPANY
    )


def spend_by_month(*, organization, months: list[str]) -> list[SpendRow]:
    """One row per month asked for ("2026-11"), oldest first; two queries."""
    if not months:
        return []
    start, _ = month_bounds(min(months))
    _, end = month_bounds(max(months))
    month = TruncMonth("created_at", tzinfo=UTC)
    charged = {
        row["month"].strftime("%Y-%m"): row["total"]
        for row in _charges(organization)
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(month=month)
        .values("month")
        .annotate(total=Sum(F("amount_cents") + F("fee_cents")))
    }
    refunded = {
        row["month"].strftime("%Y-%m"): row["total"]
        for row in _refunds(organization)
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(month=month)
        .values("month")
        .annotate(total=Sum("amount_cents"))
    }
    return [
        SpendRow(label, charged.get(label) or 0, refunded.get(label) or 0)
        for label in sorted(months)
    ]


def spend_by_group(*, organization, months: list[str]) -> list[SpendRow]:
    """Spend over the months asked for, by what each review was for, largest first."""
    if not months:
        return []
    start, _ = month_bounds(min(months))
    _, end = month_bounds(max(months))
    charges = list(
        _charges(organization)
        .filter(created_at__gte=start, created_at__lt=end)
        .values_list("ref", "amount_cents", "fee_cents")
    )
    refunds = list(
        _refunds(organization)
        .filter(created_at__gte=start, created_at__lt=end)
        .values_list("earning__ref", "amount_cents")
    )
    subjects = words.subjects_for([ref for ref, *_ in charges] + [ref for ref, _ in refunds])

    def group(ref: str) -> str:
        subject = subjects.get(ref)
        return subject.group if subject and subject.group else "Other"

    totals: dict[str, list[int]] = {}
    for ref, amount, fee in charges:
        totals.setdefault(group(ref), [0, 0])[0] += amount + fee
    for ref, amount in refunds:
        totals.setdefault(group(ref), [0, 0])[1] += amount
    rows = [SpendRow(label, charged, refunded) for label, (charged, refunded) in totals.items()]
    return sorted(rows, key=lambda row: (-row.net_cents, row.label))
