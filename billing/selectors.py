"""Money reads: balances, receipts, statements, earnings by week."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Sum
from django.http import Http404
from django.utils import timezone

from billing import ledger, words
from billing.models import (
    ConnectedAccount,
    CreditGrant,
    Earning,
    Funding,
    Hold,
    LedgerAccount,
    LedgerEntry,
    Payout,
    PlatformHoldGrant,
    Refund,
)

Kind = LedgerAccount.Kind


@dataclass(frozen=True)
class CompanyBalance:
    available_cents: int
    held_cents: int
    currency: str = "usd"

    @property
    def total_cents(self) -> int:
        return self.available_cents + self.held_cents


def company_balance(*, organization) -> CompanyBalance:
    rows = dict(
        LedgerAccount.objects.filter(
            owner_key=f"org:{organization.pk}", currency="usd"
        ).values_list("kind", "balance_cents")
    )
    return CompanyBalance(
        available_cents=rows.get(Kind.COMPANY_AVAILABLE, 0),
        held_cents=rows.get(Kind.COMPANY_HELD, 0),
    )


def company_available_cents(*, organization) -> int:
    return ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization)


def platform_hold_grants_open(*, scope: str) -> int:
    """How many holds for `scope` the platform pays when they are placed (rework grants)."""
    return PlatformHoldGrant.objects.filter(
        scope=scope, status=PlatformHoldGrant.Status.OPEN
    ).count()


@dataclass(frozen=True)
class ExpertBalance:
    pending_cents: int
    frozen_cents: int
    available_cents: int
    paid_out_cents: int
    currency: str = "usd"


def expert_balance(*, user) -> ExpertBalance:
    rows = dict(
        LedgerAccount.objects.filter(owner_key=f"user:{user.pk}", currency="usd").values_list(
            "kind", "balance_cents"
        )
    )
    frozen = (
        Earning.objects.filter(user=user, status=Earning.Status.FROZEN).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )
    return ExpertBalance(
        pending_cents=rows.get(Kind.EXPERT_PENDING, 0),
        frozen_cents=frozen,
        available_cents=rows.get(Kind.EXPERT_AVAILABLE, 0),
        paid_out_cents=rows.get(Kind.EXPERT_PAID_OUT, 0),
    )


# Months ----------------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """ "2026-03" -> [2026-03-01 00:00 UTC, 2026-04-01 00:00 UTC); Http404 if malformed."""
    try:
        year_text, month_text = month.split("-")
        year, number = int(year_text), int(month_text)
        start = datetime(year, number, 1, tzinfo=UTC)
    except ValueError as error:
        raise Http404("No such month") from error
    days = calendar.monthrange(year, number)[1]
    return start, start + timedelta(days=days)


def recent_months(*, count: int = 12, now: datetime | None = None) -> list[str]:
    today = (now or timezone.now()).astimezone(UTC).date()
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return months


# Company statements and receipts ---------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    at: datetime
    ref: str
    reason: str
    memo: str
    available_cents: int
    held_cents: int
    description: str = ""  # in words, naming the request (billing.words)
    url: str = ""  # the request's page, when the line is about one


@dataclass
class Statement:
    month: str
    opening_available_cents: int
    opening_held_cents: int
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def closing_available_cents(self) -> int:
        return self.opening_available_cents + sum(line.available_cents for line in self.lines)

    @property
    def closing_held_cents(self) -> int:
        return self.opening_held_cents + sum(line.held_cents for line in self.lines)

    def total(self, reason: str) -> int:
        return sum(
            line.available_cents + line.held_cents for line in self.lines if line.reason == reason
        )


REASON_LABELS = {
    "funding": "Card top-up",
    "credit_granted": "Credit granted",
    "credit_revoked": "Credit revoked",
    "hold": "Hold for a review",
    "capture": "Review charged (the rest of the hold released)",
    "release": "Hold released",
    "refund": "Refund",
    "earning_available": "Dispute window over",
    "payout": "Payout",
    "payout_failed": "Payout failed: returned",
    "transfer_reversed": "Transfer reversed",
}


def company_statement(*, organization, month: str) -> Statement:
    start, end = month_bounds(month)
    accounts = dict(
        LedgerAccount.objects.filter(owner_key=f"org:{organization.pk}", currency="usd")
        .filter(kind__in=[Kind.COMPANY_AVAILABLE, Kind.COMPANY_HELD])
        .values_list("pk", "kind")
    )
    opening = dict(
        LedgerEntry.objects.filter(account_id__in=list(accounts), transaction__created_at__lt=start)
        .values_list("account_id")
        .annotate(total=Sum("amount_cents"))
        .values_list("account_id", "total")
    )
    statement = Statement(
        month=month,
        opening_available_cents=sum(
            v for k, v in opening.items() if accounts[k] == Kind.COMPANY_AVAILABLE
        ),
        opening_held_cents=sum(v for k, v in opening.items() if accounts[k] == Kind.COMPANY_HELD),
    )
    entries = (
        LedgerEntry.objects.filter(
            account_id__in=list(accounts),
            transaction__created_at__gte=start,
            transaction__created_at__lt=end,
        )
        .select_related("transaction")
        .order_by("transaction__created_at", "transaction_id", "pk")
    )
    by_txn: dict[int, dict] = {}
    for entry in entries:
        txn = entry.transaction
        row = by_txn.setdefault(
            txn.pk, {"txn": txn, Kind.COMPANY_AVAILABLE: 0, Kind.COMPANY_HELD: 0}
        )
        row[accounts[entry.account_id]] += entry.amount_cents
    describer = words.LineDescriber(
        organization=organization, txn_refs=[row["txn"].ref for row in by_txn.values()]
    )
    for row in by_txn.values():
        txn = row["txn"]
        memo = txn.memo or REASON_LABELS.get(txn.reason, txn.reason)
        described = describer.describe(ref=txn.ref, reason=txn.reason, fallback=memo)
        statement.lines.append(
            StatementLine(
                at=txn.created_at,
                ref=txn.ref,
                reason=txn.reason,
                memo=memo,
                available_cents=row[Kind.COMPANY_AVAILABLE],
                held_cents=row[Kind.COMPANY_HELD],
                description=described.text,
                url=described.url,
            )
        )
    return statement


@dataclass(frozen=True)
class Receipt:
    kind: str  # "card", "credit", "charge", "refund"
    at: datetime
    amount_cents: int
    status: str
    description: str
    url: str = ""  # the request a charge or refund was for


def company_receipts(*, organization, limit: int = 50) -> list[Receipt]:
    """Card top-ups, operator credit, charges for reviews and refunds, newest first, each in
    words (five queries, the request lookup included)."""
    receipts = [
        Receipt(
            "card",
            funding.succeeded_at or funding.created_at,
            funding.amount_cents,
            funding.get_status_display(),
            f"Card top-up #{funding.pk}"
            + (f" — {funding.failure_reason}" if funding.failure_reason else ""),
        )
        for funding in Funding.objects.filter(organization=organization).order_by("-created_at")[
            :limit
        ]
    ]
    receipts += [
        Receipt(
            "credit",
            grant.created_at,
            grant.amount_cents,
            "Granted" if grant.amount_cents > 0 else "Revoked",
            f"Credit from Inloop: {grant.reason}",
        )
        for grant in CreditGrant.objects.filter(organization=organization).order_by("-created_at")[
            :limit
        ]
    ]
    charges = list(
        Earning.objects.filter(organization=organization, payer=Hold.Payer.COMPANY).order_by(
            "-created_at"
        )[:limit]
    )
    refunds = list(
        Refund.objects.filter(earning__organization=organization)
        .select_related("earning")
        .order_by("-created_at")[:limit]
    )
    subjects = words.subjects_for(
        [earning.ref for earning in charges] + [refund.earning.ref for refund in refunds]
    )

    def subject(ref: str) -> words.Subject:
        return subjects.get(ref) or words.Subject(text="a review")

    receipts += [
        Receipt(
            "charge",
            earning.created_at,
            earning.company_cost_cents,
            "Charged",
            words.charge_words(subject(earning.ref).text, earning),
            subject(earning.ref).url,
        )
        for earning in charges
    ]
    receipts += [
        Receipt(
            "refund",
            refund.created_at,
            refund.amount_cents,
            "Refunded",
            f"{words.refund_words(refund.reason)}: {subject(refund.earning.ref).text}",
            subject(refund.earning.ref).url,
        )
        for refund in refunds
    ]
    receipts.sort(key=lambda receipt: receipt.at, reverse=True)
    return receipts[:limit]


@dataclass(frozen=True)
class HoldReceiptLine:
    ref: str
    status: str
    held_cents: int
    captured_cents: int
    expert_cents: int
    fee_cents: int
    released_cents: int
    refunded_cents: int
    billed_seconds: int
    # A rework the platform paid for after a dispute: listed, never counted as the company's.
    paid_by_platform: bool = False


@dataclass(frozen=True)
class RequestReceipt:
    lines: list[HoldReceiptLine]

    @property
    def _company_lines(self) -> list[HoldReceiptLine]:
        return [line for line in self.lines if not line.paid_by_platform]

    @property
    def captured_cents(self) -> int:
        return sum(line.captured_cents for line in self._company_lines)

    @property
    def fee_cents(self) -> int:
        return sum(line.fee_cents for line in self._company_lines)

    @property
    def released_cents(self) -> int:
        return sum(line.released_cents for line in self._company_lines)

    @property
    def refunded_cents(self) -> int:
        return sum(line.refunded_cents for line in self._company_lines)

    @property
    def net_cents(self) -> int:
        return self.captured_cents - self.refunded_cents


def request_receipt(*, organization, hold_refs: list[str]) -> RequestReceipt:
    """What a request cost, from the holds of its assignments (two queries). Only this
    organization's holds are read: another tenant's refs simply do not appear."""
    holds = list(
        Hold.objects.filter(organization=organization, ref__in=hold_refs).order_by("created_at")
    )
    earnings = {
        earning.ref: earning
        for earning in Earning.objects.filter(
            organization=organization, ref__in=[h.ref for h in holds]
        )
    }
    lines = []
    for hold in holds:
        earning = earnings.get(hold.ref)
        released = hold.amount_cents - hold.captured_cents if hold.status != Hold.Status.HELD else 0
        lines.append(
            HoldReceiptLine(
                ref=hold.ref,
                status=hold.get_status_display(),
                held_cents=hold.amount_cents,
                captured_cents=hold.captured_cents,
                expert_cents=hold.captured_cents - hold.fee_cents,
                fee_cents=hold.fee_cents,
                released_cents=released,
                refunded_cents=earning.refunded_cents if earning else 0,
                billed_seconds=earning.billed_seconds if earning else 0,
                paid_by_platform=hold.payer == Hold.Payer.PLATFORM,
            )
        )
    return RequestReceipt(lines=lines)


# One earning after its refunds ----------------------------------------------------------------


@dataclass(frozen=True)
class EarningSplit:
    """One captured earning after its refunds, split as the ledger split it: the refunds' expert
    part comes from refund_expert_cents, the same function earning_refund posts with, so these
    are the figures of the capture and refund transactions (pages show these, never the hold's
    price or the pre-refund capture)."""

    expert_cents: int  # the expert's pay, net of the expert's part of refunds
    fee_cents: int  # the platform fee, net of the fee's part of refunds
    refunded_cents: int  # given back to the payer in all
    expert_refunded_cents: int  # of which taken from the expert
    charged_cents: int  # what the company paid net (0 when the platform paid for a rework)

    @property
    def paid_cents(self) -> int:
        """What the payer (company or platform) paid net of refunds."""
        return self.expert_cents + self.fee_cents


def earning_split(*, earning: Earning) -> EarningSplit:
    from billing.services import refund_expert_cents

    expert_refunded = refund_expert_cents(
        refunded_cents=earning.refunded_cents,
        expert_cents=earning.amount_cents,
        fee_cents=earning.fee_cents,
    )
    fee_refunded = earning.refunded_cents - expert_refunded
    paid = earning.amount_cents + earning.fee_cents - earning.refunded_cents
    return EarningSplit(
        expert_cents=earning.amount_cents - expert_refunded,
        fee_cents=earning.fee_cents - fee_refunded,
        refunded_cents=earning.refunded_cents,
        expert_refunded_cents=expert_refunded,
        charged_cents=0 if earning.payer == Hold.Payer.PLATFORM else paid,
    )


def earning_splits_by_assignment(*, assignment_ids) -> dict:
    """assignment id -> EarningSplit, for the assignments that have a captured earning."""
    return {
        earning.assignment_id: earning_split(earning=earning)
        for earning in Earning.objects.filter(assignment_id__in=list(assignment_ids))
    }


# Experts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekTotal:
    week_start: date
    earned_cents: int
    assignments: int


def expert_earnings_by_week(
    *, user, weeks: int = 12, now: datetime | None = None
) -> list[WeekTotal]:
    """Captured pay per ISO week (Monday start, UTC), the last `weeks` weeks, zeros included."""
    now = (now or timezone.now()).astimezone(UTC)
    this_monday = (now - timedelta(days=now.weekday())).date()
    first = this_monday - timedelta(weeks=weeks - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    totals: dict[date, list[int]] = {}
    # Net of refunds, earning by earning (earning_split): what the ledger left the expert.
    for earning in Earning.objects.filter(user=user, created_at__gte=start).only(
        "created_at", "amount_cents", "fee_cents", "refunded_cents", "payer"
    ):
        created = earning.created_at.astimezone(UTC).date()
        week_total = totals.setdefault(created - timedelta(days=created.weekday()), [0, 0])
        week_total[0] += earning_split(earning=earning).expert_cents
        week_total[1] += 1
    result = []
    for index in range(weeks):
        week = first + timedelta(weeks=index)
        earned, count = totals.get(week, (0, 0))
        result.append(WeekTotal(week, earned, count))
    return result


def expert_earnings_list(*, user):
    return Earning.objects.filter(user=user).order_by("-created_at")


def expert_earnings_latest(*, user, limit: int = 20) -> list[Earning]:
    """The latest earnings, each with `.split` (earning_split: net of refunds) for the page."""
    earnings = list(expert_earnings_list(user=user)[:limit])
    for earning in earnings:
        earning.split = earning_split(earning=earning)
    return earnings


def expert_payouts(*, user):
    return Payout.objects.filter(user=user).order_by("-created_at")


def connected_account_for(*, user) -> ConnectedAccount | None:
    return ConnectedAccount.objects.filter(user=user).first()


@dataclass(frozen=True)
class ExpertStatementLine:
    at: datetime
    kind: str
    description: str
    amount_cents: int
    status: str


def expert_statement(*, user, month: str) -> list[ExpertStatementLine]:
    start, end = month_bounds(month)
    lines = [
        ExpertStatementLine(
            earning.created_at,
            "earning",
            f"Review ({earning.billed_seconds // 60} min at {earning.rate_cents / 100:.2f}/h)",
            earning.amount_cents,
            earning.get_status_display(),
        )
        for earning in Earning.objects.filter(
            user=user, created_at__gte=start, created_at__lt=end
        ).order_by("created_at")
    ]
    lines += [
        ExpertStatementLine(
            refund.created_at,
            "refund",
            f"Refund: {refund.reason}",
            -refund.expert_cents,
            "Refunded",
        )
        for refund in Refund.objects.filter(
            earning__user=user, created_at__gte=start, created_at__lt=end
        ).order_by("created_at")
    ]
    lines += [
        ExpertStatementLine(
            payout.created_at,
            "payout",
            f"Payout #{payout.pk}",
            -payout.amount_cents,
            payout.get_status_display(),
        )
        for payout in Payout.objects.filter(
            user=user, created_at__gte=start, created_at__lt=end
        ).order_by("created_at")
    ]
    lines.sort(key=lambda line: line.at)
    return lines


def payouts_awaiting_count(*, user) -> int:
    return Payout.objects.filter(user=user, status=Payout.Status.AWAITING_STRIPE).count()


def funding_get_for_org(*, organization, pk: int) -> Funding:
    funding = Funding.objects.filter(organization=organization, pk=pk).first()
    if funding is None:
        raise Http404("No such top-up")
    return funding


def earning_for_ref(*, ref: str) -> Earning | None:
    """The earning captured from hold `ref` (an assignment's hold_ref), or None."""
    return Earning.objects.filter(ref=ref).first() if ref else None


def earning_refunds(*, earning: Earning) -> list[Refund]:
    """The earning's refunds, oldest first, each with its transfer reversal (or None)."""
    return list(
        Refund.objects.filter(earning=earning)
        .select_related("reversal")
        .order_by("created_at", "id")
    )


def platform_hold_grant_for_source(*, source_ref: str) -> PlatformHoldGrant | None:
    """The grant one decision left (e.g. a rework the platform pays for), with its holds."""
    return PlatformHoldGrant.objects.filter(source_ref=source_ref).prefetch_related("holds").first()
