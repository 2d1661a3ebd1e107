"""Money reads."""

from __future__ import annotations

from dataclasses import dataclass

from billing import ledger
from billing.models import LedgerAccount

Kind = LedgerAccount.Kind


@dataclass(frozen=True)
class CompanyBalance:
    available_cents: int
    held_cents: int
    currency: str = "usd"


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
