"""Billing forms: validation only."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from billing.services import FUNDING_MINIMUM_CENTS


class AddFundsForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount (USD)",
        min_value=Decimal(FUNDING_MINIMUM_CENTS) / 100,
        max_value=Decimal(100_000),
        max_digits=9,
        decimal_places=2,
        help_text="At least $10.00. Your balance is credited once the card payment succeeds.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "10", "inputmode": "decimal"}),
        error_messages={"min_value": "The minimum top-up is $10.00."},
    )

    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount"] * 100)
