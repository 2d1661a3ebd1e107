"""Dispute pages of the parties: companies open and follow disputes, experts answer them.
(The operator's case page is in the console.)"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from marketplace.formfields import TextField
from marketplace.permissions import company_required, expert_required
from review_requests import dispute_selectors, dispute_services
from review_requests.models import Dispute


class DisputeOpenForm(forms.Form):
    category = forms.ChoiceField(
        label="What is wrong", choices=Dispute.Category.choices, widget=forms.RadioSelect
    )
    description = TextField(
        label="Describe the problem",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What the reviewer missed or got wrong, or why the hours are not right.",
    )
    requested_remedy = forms.ChoiceField(
        label="What you ask for", choices=Dispute.Remedy.choices, widget=forms.RadioSelect
    )
    requested_amount = forms.DecimalField(
        label="Amount to refund (USD)",
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="Only for a partial refund; at most what this review cost.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("requested_remedy") == Dispute.Remedy.PARTIAL_REFUND and not cleaned.get(
            "requested_amount"
        ):
            self.add_error("requested_amount", "Give the amount you ask back.")
        return cleaned

    def amount_cents(self) -> int | None:
        amount = self.cleaned_data.get("requested_amount")
        if amount is None:
            return None
        return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class StatementForm(forms.Form):
    statement = TextField(
        label="Your statement",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Your side: what you checked, how you spent the time. The operator reads it "
        "next to the workspace record.",
    )


class AddendumForm(forms.Form):
    text = TextField(
        label="Add to your case",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="You can add to your case once, until the decision.",
    )


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        form.add_error(None, exc)


# The phases (dispute_selectors.PHASES) in which the company may still add to its case.
OPEN_TO_ADDITIONS = ("awaiting_answer", "answer_overdue", "ready_answered", "ready_unanswered")


# Company -----------------------------------------------------------------------------------------


@company_required
@require_GET
def company_disputes(request):
    status = request.GET.get("status", "")
    qs = dispute_selectors.disputes_for_company(organization=request.organization, status=status)
    page_obj = Paginator(qs, 25).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "review_requests/disputes/company_list.html",
        {
            "page_obj": page_obj,
            "querystring": params.urlencode(),
            "status": status,
            "statuses": Dispute.Status.choices,
        },
    )


@company_required
@require_http_methods(["GET", "POST"])
def company_dispute_new(request, assignment_pk):
    assignment = dispute_selectors.assignment_get_for_dispute(user=request.user, pk=assignment_pk)
    existing = Dispute.objects.filter(assignment=assignment).first()
    if existing is not None:
        return redirect("company_dispute", pk=existing.pk)
    form = DisputeOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispute = dispute_services.dispute_open(
                assignment=assignment,
                user=request.user,
                category=form.cleaned_data["category"],
                description=form.cleaned_data["description"],
                requested_remedy=form.cleaned_data["requested_remedy"],
                requested_amount_cents=form.amount_cents(),
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, "Dispute opened. The expert has 3 days to answer; the pay is on hold."
            )
            return redirect("company_dispute", pk=dispute.pk)
    return render(
        request,
        "review_requests/disputes/company_new.html",
        {
            "form": form,
            "assignment": assignment,
            "rr": assignment.review_request,
            "can_open": dispute_selectors.can_open_dispute(assignment=assignment),
            "window_closes_at": dispute_selectors.dispute_window_closes_at(assignment=assignment),
            "captured_cents": dispute_selectors.captured_cents(assignment=assignment),
        },
    )


@company_required
@require_http_methods(["GET", "POST"])
def company_dispute(request, pk):
    dispute = dispute_selectors.dispute_get_for_company(user=request.user, pk=pk)
    form = AddendumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispute_services.dispute_company_addendum(
                dispute=dispute, user=request.user, text=form.cleaned_data["text"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Added to your case.")
            return redirect("company_dispute", pk=dispute.pk)
    phase = dispute_selectors.dispute_phase(dispute=dispute)
    return render(
        request,
        "review_requests/disputes/company_detail.html",
        {
            "dispute": dispute,
            "rr": dispute.assignment.review_request,
            "split": dispute_selectors.assignment_earning_split(assignment=dispute.assignment),
            "timeline": dispute_selectors.dispute_timeline(dispute=dispute),
            "form": form,
            "phase": phase,
            "can_add": dispute.company_addendum_at is None and phase in OPEN_TO_ADDITIONS,
        },
    )


# Expert ------------------------------------------------------------------------------------------


@expert_required
@require_http_methods(["GET", "POST"])
def expert_dispute(request, pk):
    dispute = dispute_selectors.dispute_get_for_expert(user=request.user, pk=pk)
    form = StatementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispute_services.dispute_expert_answer(
                dispute=dispute, user=request.user, statement=form.cleaned_data["statement"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Your statement is in. An operator decides next.")
            return redirect("expert_dispute", pk=dispute.pk)
    phase = dispute_selectors.dispute_phase(dispute=dispute)
    return render(
        request,
        "review_requests/disputes/expert_detail.html",
        {
            "dispute": dispute,
            "rr": dispute.assignment.review_request,
            "split": dispute_selectors.assignment_earning_split(assignment=dispute.assignment),
            "timeline": dispute_selectors.dispute_timeline(dispute=dispute),
            "form": form,
            "phase": phase,
            "can_answer": phase == "awaiting_answer",
        },
    )
