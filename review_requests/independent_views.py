"""The company's review settings page (independent reviews: the adjudication threshold)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from marketplace.permissions import company_required
from review_requests.services import adjudication_threshold_of, review_settings_update


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
