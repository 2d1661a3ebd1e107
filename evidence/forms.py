from __future__ import annotations

from django import forms


class PeriodForm(forms.Form):
    first_day = forms.DateField(
        label="From (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    last_day = forms.DateField(
        label="To (UTC day, included)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        first_day, last_day = cleaned.get("first_day"), cleaned.get("last_day")
        if first_day and last_day and last_day < first_day:
            self.add_error("last_day", "The last day comes before the first.")
        if first_day and last_day and (last_day - first_day).days > 366:
            self.add_error("last_day", "At most a year at a time.")
        return cleaned
