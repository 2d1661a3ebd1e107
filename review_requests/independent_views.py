"""The company's review settings page (independent reviews: the adjudication threshold) and its
agreement page (Krippendorff's alpha over its requests, per specialization and per month)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from experts.selectors import specialization_list
from marketplace import charts
from marketplace.permissions import company_required
from oversight.selectors import policy_list
from review_requests.agreement import alpha_reading
from review_requests.agreement_selectors import AgreementScope, agreement_report
from review_requests.services import adjudication_threshold_of, review_settings_update

AGREEMENT_DAYS = 365
MAX_PERIOD_DAYS = 366


class ReviewSettingsForm(forms.Form):
    adjudication_percent = forms.IntegerField(
        label="Adjudicate when agreement is below (%)",
        required=False,
        min_value=1,
        max_value=100,
        help_text=(
            "With several reviewers: when the share of reviewer pairs who agree on the verdict "
            "is below this, or the verdicts differ, one more expert (the adjudicator) reads "
            "every review and decides; billed like any review. Leave empty to turn it off."
        ),
    )


@company_required
@require_http_methods(["GET", "POST"])
def review_settings(request: HttpRequest) -> HttpResponse:
    threshold = adjudication_threshold_of(organization_id=request.organization.pk)
    initial = {"adjudication_percent": round(threshold * 100) if threshold is not None else None}
    form = ReviewSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Only owners and admins can change review settings.")
        if form.is_valid():
            percent = form.cleaned_data["adjudication_percent"]
            try:
                review_settings_update(
                    organization=request.organization,
                    adjudication_threshold=None if percent is None else percent / 100,
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_error("adjudication_percent", exc.messages[0])
            else:
                messages.success(
                    request,
                    "Adjudication is off."
                    if percent is None
                    else f"Requests with agreement below {percent}% go to an adjudicator.",
                )
                return redirect("company_review_settings")
    return render(
        request,
        "review_requests/review_settings.html",
        {"form": form, "is_admin": request.membership.is_admin, "threshold": threshold},
    )


class AgreementFilterForm(forms.Form):
    """The agreement page's filters, in the URL (GET)."""

    from_day = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    to_day = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    specialization = forms.ChoiceField(required=False, label="Specialization")
    policy = forms.ChoiceField(required=False, label="Oversight policy")

    def __init__(self, *args, specializations, policies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = [("", "All"), *specializations]
        self.fields["policy"].choices = [("", "Any"), *[(name, name) for name in policies]]

    def clean(self):
        data = super().clean()
        first, last = data.get("from_day"), data.get("to_day")
        if first and last and first > last:
            self.add_error("to_day", "The end must be on or after the start.")
        elif first and last and (last - first).days >= MAX_PERIOD_DAYS:
            self.add_error("to_day", f"A period is at most {MAX_PERIOD_DAYS} days.")
        return data

    def chosen(self) -> dict:
        """What was asked and is valid; the last AGREEMENT_DAYS days up to today by default."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        last = data.get("to_day") or timezone.now().date()
        first = data.get("from_day") or last - timedelta(days=AGREEMENT_DAYS - 1)
        if first > last or (last - first).days >= MAX_PERIOD_DAYS:
            first = last - timedelta(days=AGREEMENT_DAYS - 1)
        return {
            "first": first,
            "last": last,
            "specialization": data.get("specialization") or "",
            "policy": data.get("policy") or "",
        }


def _agreement_rows(report: dict) -> dict:
    """The report with each alpha's reading, as the page shows it."""
    for row in [*report["by_specialization"], *report["by_month"]]:
        row["reading"] = alpha_reading(row["verdict"])
    report["verdict_reading"] = alpha_reading(report["verdict"])
    months = [date.fromisoformat(row["month"] + "-01") for row in report["by_month"]]
    report["chart"] = charts.column_chart(
        title="Requests compared by month (each month's alpha is in the table below)",
        labels=[f"{month:%b}" for month in months],
        long_labels=[f"{month:%B %Y}" for month in months],
        series=[charts.Series("Requests", [row["requests"] for row in report["by_month"]])],
    )
    report["score_rows"] = [
        {"key": key, "alpha": value, "reading": alpha_reading(value)}
        for key, value in report["scores"].items()
    ]
    return report


@company_required
@require_GET
def company_agreement(request: HttpRequest) -> HttpResponse:
    policies = {p.name: p for p in policy_list(organization=request.organization)}
    today = timezone.now().date()
    form = AgreementFilterForm(
        request.GET or None,
        initial={"from_day": today - timedelta(days=AGREEMENT_DAYS - 1), "to_day": today},
        specializations=[(s.slug, f"{s.name} ({s.slug})") for s in specialization_list()],
        policies=list(policies),
    )
    chosen = form.chosen()
    policy = policies.get(chosen["policy"])
    scope = AgreementScope(
        organization_id=request.organization.pk,
        specialization_slug=chosen["specialization"],
        policy_id=policy.pk if policy else None,
        first=chosen["first"],
        last=chosen["last"],
    )
    return render(
        request,
        "review_requests/agreement.html",
        {"form": form, "chosen": chosen, "report": _agreement_rows(agreement_report(scope=scope))},
    )
