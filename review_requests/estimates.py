"""What a request would cost before it is sent: the hold an accept would place at the rates of the
experts who fit right now (`max_hours x rate x (1 + fee)` per reviewer, billing's own
hold_amount_for), the company's available balance, and how many experts fit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from billing.selectors import company_available_cents
from billing.services import hold_amount_for
from experts.matching import candidates_rank
from marketplace.selectors import platform_fee_percent
from marketplace.templatetags.inloop import format_cents

CANDIDATE_LIMIT = 50  # "50 or more experts fit" is all the form needs to say


@dataclass(frozen=True)
class Estimate:
    candidates: int  # experts who fit right now, at most CANDIDATE_LIMIT
    reviewers: int
    available_cents: int
    fee_percent: Decimal
    hold_low_cents: int | None  # the cheapest experts who fit, every reviewer
    hold_high_cents: int | None  # the dearest experts who fit (or the rate cap), every reviewer
    rate_low_cents: int | None
    rate_high_cents: int | None
    max_hours: Decimal = Decimal(1)

    @property
    def more(self) -> bool:
        return self.candidates >= CANDIDATE_LIMIT

    @property
    def covered(self) -> bool:
        """The balance covers the holds of the cheapest experts who fit."""
        return self.hold_low_cents is not None and self.available_cents >= self.hold_low_cents

    @property
    def short_cents(self) -> int:
        if self.hold_low_cents is None:
            return 0
        return max(self.hold_low_cents - self.available_cents, 0)

    @property
    def state(self) -> str:
        """ "ok" (the balance covers every expert who fits), "partial", "short" or "none"."""
        if self.hold_low_cents is None:
            return "none"
        if not self.covered:
            return "short"
        return "ok" if self.available_cents >= (self.hold_high_cents or 0) else "partial"

    def sentences(self) -> list[str]:
        """The estimate in words, the same on the page and in the JSON the page reads."""
        if self.more:
            fit = f"{CANDIDATE_LIMIT} or more experts fit right now."
        elif self.candidates == 1:
            fit = "1 expert fits right now."
        elif self.candidates:
            fit = f"{self.candidates} experts fit right now."
        else:
            fit = "No expert fits right now: it is offered as soon as one does."
        if 0 < self.candidates < self.reviewers:
            fit += f" You asked for {self.reviewers} reviewers."
        lines = [fit]
        hours = f"{self.max_hours.normalize():f} h"
        who = f"{self.reviewers} reviewer{'s' if self.reviewers != 1 else ''}"
        fee = f"{self.fee_percent.normalize():f}% fee"
        if self.hold_low_cents is not None and self.rate_low_cents is not None:
            rates = format_cents(self.rate_low_cents)
            if self.rate_high_cents != self.rate_low_cents:
                rates += f"–{format_cents(self.rate_high_cents)}"
            amount = format_cents(self.hold_low_cents)
            if self.hold_high_cents != self.hold_low_cents:
                amount = f"between {amount} and {format_cents(self.hold_high_cents)}"
            lines.append(
                f"An accept places a hold of {amount} ({who} × up to {hours} at {rates}/h + "
                f"{fee}); you pay only the time billed, the rest is released."
            )
        elif self.hold_high_cents is not None:
            lines.append(
                f"At your rate cap an accept would hold at most "
                f"{format_cents(self.hold_high_cents)} ({who} × up to {hours} + {fee})."
            )
        balance = f"Your available balance is {format_cents(self.available_cents)}."
        if self.state == "ok":
            balance += " It covers this."
        elif self.state == "partial":
            balance += " It covers the cheapest experts who fit, not all of them."
        elif self.state == "short":
            balance += (
                f" It does not cover this: add at least {format_cents(self.short_cents)}, or the "
                "request waits for funds."
            )
        lines.append(balance)
        return lines

    def as_json(self) -> dict:
        return {
            "candidates": self.candidates,
            "more": self.more,
            "reviewers": self.reviewers,
            "available_cents": self.available_cents,
            "fee_percent": str(self.fee_percent),
            "hold_low_cents": self.hold_low_cents,
            "hold_high_cents": self.hold_high_cents,
            "rate_low_cents": self.rate_low_cents,
            "rate_high_cents": self.rate_high_cents,
            "covered": self.covered,
            "short_cents": self.short_cents,
            "state": self.state,
            "sentences": self.sentences(),
        }


def request_estimate(
    *,
    organization,
    specialization_slug: str,
    max_hours: Decimal,
    max_rate_cents: int | None,
    reviewers: int,
) -> Estimate:
    fee = platform_fee_percent()
    candidates = candidates_rank(
        specialization_slug=specialization_slug,
        max_rate_cents=max_rate_cents,
        organization_id=organization.pk,
        exclude_expert_ids=(),
        now=timezone.now(),
        deadline=None,
        limit=CANDIDATE_LIMIT,
    )
    rates = sorted(candidate.rate_cents for candidate in candidates)

    def holds(chosen: list[int]) -> int:
        return sum(
            hold_amount_for(max_hours=max_hours, rate_cents=rate, fee_percent=fee)
            for rate in chosen
        )

    if rates:
        low = holds(rates[:reviewers])
        high = holds(rates[-reviewers:])
    elif max_rate_cents is not None:
        low, high = None, holds([max_rate_cents] * reviewers)
    else:
        low = high = None
    return Estimate(
        candidates=len(candidates),
        reviewers=reviewers,
        available_cents=company_available_cents(organization=organization),
        fee_percent=fee,
        hold_low_cents=low,
        hold_high_cents=high,
        rate_low_cents=rates[0] if rates else None,
        rate_high_cents=rates[-1] if rates else None,
        max_hours=Decimal(max_hours),
    )
