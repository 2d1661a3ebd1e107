"""The create form of the Datasets page: what the API's ExportIn takes, as fields a person fills."""

from __future__ import annotations

from django import forms
from pydantic import ValidationError as PydanticValidationError

from datasets.models import Export
from datasets.schemas import FILTER_STATUSES, ExportFiltersIn
from review_requests.forms import specialization_choices


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=Export.Format.choices,
        initial=Export.Format.DPO,
        help_text="JSON Lines; docs/contract/exports.md describes every field of each format.",
    )
    specialization = forms.ChoiceField(required=False)
    completed_after = forms.DateField(
        required=False,
        label="Completed from",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="UTC day, inclusive.",
    )
    completed_before = forms.DateField(
        required=False,
        label="Completed before",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="UTC day, not included.",
    )
    policy = forms.CharField(
        required=False,
        max_length=200,
        help_text="Only requests routed by this oversight policy, or whose metadata has "
        "this policy value.",
    )
    status = forms.MultipleChoiceField(
        choices=[(s, s.capitalize()) for s in FILTER_STATUSES],
        initial=["completed"],
        widget=forms.CheckboxSelectMultiple,
        label="Request status",
    )
    agreement_min = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Agreement at least",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="0 to 1; requests with one reviewer have no agreement and are left out.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = [("", "Any"), *specialization_choices()]

    def filters(self) -> ExportFiltersIn | None:
        """The validated filters (as the API takes them), or None with the errors on the form."""
        data = self.cleaned_data
        raw = {
            "specialization": data.get("specialization") or None,
            "policy": data.get("policy") or None,
            "status": data.get("status") or ["completed"],
            "agreement_min": data.get("agreement_min"),
            "completed_after": _day(data.get("completed_after")),
            "completed_before": _day(data.get("completed_before")),
        }
        try:
            return ExportFiltersIn.model_validate({k: v for k, v in raw.items() if v is not None})
        except PydanticValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "completed_before"
                self.add_error(field if field in self.fields else "completed_before", error["msg"])
            return None


def _day(value):
    return f"{value.isoformat()}T00:00:00+00:00" if value else None
