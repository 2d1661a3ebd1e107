"""Billing endpoints under /api/v1."""

from __future__ import annotations

from ninja import Router
from pydantic import BaseModel

from billing.selectors import company_balance
from marketplace.api import company_auth, errors

router = Router(tags=["billing"])


class BalanceOut(BaseModel):
    available_cents: int
    held_cents: int
    currency: str


@router.get("/balance", auth=company_auth, response={200: BalanceOut, **errors(401, 429)})
def get_balance(request):
    """The organization's available and held balance, in cents."""
    balance = company_balance(organization=request.organization)
    return BalanceOut(
        available_cents=balance.available_cents,
        held_cents=balance.held_cents,
        currency=balance.currency,
    )
