"""Console forms: they validate operator input; services do the work."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.utils import timezone

from marketplace.formfields import TextField
from review_requests.models import Dispute


def dollars_to_cents(value: Decimal) -> int:
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class DollarsField(forms.DecimalField):
    """Dollars typed by a person ("12.50"), cleaned to integer cents."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0.01"))
        super().__init__(**kwargs)

    def clean(self, value):
        cleaned = super().clean(value)
        return None if cleaned is None else dollars_to_cents(cleaned)


class SuspendForm(forms.Form):
    reason = TextField(
        label="Reason for suspension",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log and shown to other operators.",
    )


class CreditForm(forms.Form):
    direction = forms.ChoiceField(
        label="Action",
        choices=[("grant", "Grant credit"), ("revoke", "Revoke credit")],
        widget=forms.RadioSelect,
        initial="grant",
    )
    amount = DollarsField(label="Amount (USD)")
    reason = TextField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required; recorded with the ledger posting and in the audit log.",
    )
    # New with every blank form: posting the same form twice grants once.
    request_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    def signed_cents(self) -> int:
        amount = self.cleaned_data["amount"]
        return amount if self.cleaned_data["direction"] == "grant" else -amount


class PlatformSettingsForm(forms.Form):
    fee_percent = forms.DecimalField(
        label="Platform fee (%)",
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        required=False,
        help_text="Charged to companies on top of the expert's pay. Empty: the default.",
    )
    dispute_window_hours = forms.IntegerField(
        label="Dispute window (hours)",
        min_value=0,
        max_value=24 * 90,
        required=False,
        help_text="How long after a submission a company may dispute it; earnings stay "
        "pending that long. Empty: the default.",
    )
    dispute_approval_threshold = forms.DecimalField(
        label="Second operator needed for dispute decisions and manual money actions over ($)",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        help_text="A dispute decision, credit change or payout action that moves more than "
        "this waits for another operator's approval. Empty: the default.",
    )

    def threshold_cents(self) -> int | None:
        dollars = self.cleaned_data.get("dispute_approval_threshold")
        return None if dollars is None else int(dollars * 100)


class AuditFilterForm(forms.Form):
    actor = TextField(label="Actor", required=False, max_length=254)
    action = TextField(label="Action", required=False, max_length=64)
    object = TextField(
        label="Object", required=False, max_length=130, help_text="an id, or type:id"
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("date_from")
            and cleaned.get("date_to")
            and cleaned["date_from"] > cleaned["date_to"]
        ):
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def range(self) -> tuple[datetime | None, datetime | None]:
        tz = timezone.get_current_timezone()
        start = self.cleaned_data.get("date_from")
        end = self.cleaned_data.get("date_to")
        return (
            datetime.combine(start, time.min, tzinfo=tz) if start else None,
            # The end date is inclusive: everything before the next midnight.
            datetime.combine(end, time.min, tzinfo=tz) + timezone.timedelta(days=1)
            if end
            else None,
        )


class MoneyConfirmForm(forms.Form):
    """The confirmation of one manual money action (billing.money_actions)."""

    reason = TextField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with the money movement and in the audit log.",
    )
    # New with every confirmation page: the same page posted twice acts once.
    request_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class ReasonForm(forms.Form):
    reason = TextField(label="Reason", max_length=200, widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome", choices=Dispute.Outcome.choices, widget=forms.RadioSelect
    )
    amount = DollarsField(
        label="Refund amount (USD)",
        required=False,
        help_text="Only for a partial refund; at most what was captured.",
    )
    rework_funded_by = forms.ChoiceField(
        label="Rework paid by",
        required=False,
        choices=[
            ("", "—"),
            ("refund", "The refund: the company is refunded and pays for the rework as usual"),
            ("platform", "The platform: the expert keeps the pay, the platform pays the rework"),
        ],
        help_text="Only for rework.",
    )
    note = TextField(
        label="Decision note",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="Sent to both parties with the decision.",
    )

    def clean(self):
        cleaned = super().clean()
        outcome = cleaned.get("outcome")
        if outcome == Dispute.Outcome.PARTIAL_REFUND and not cleaned.get("amount"):
            self.add_error("amount", "Give the amount to refund.")
        if outcome == Dispute.Outcome.REWORK and not cleaned.get("rework_funded_by"):
            self.add_error("rework_funded_by", "Choose who pays for the rework.")
        return cleaned
