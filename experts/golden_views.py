"""Pages of proven experts (issue #20) on the supply side: the operators' golden items, tests and
standings, and a company's golden items for its own pool. Views parse, call one service, respond."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from experts import golden, selectors
from experts.forms import GoldenItemForm, PauseLiftForm, QualificationTestForm
from experts.models import Specialization, SpecializationStanding
from marketplace.permissions import company_required, operator_required


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _refused(request, form, page: str):
    """A refused form: its errors as one message on the page it came from (post, redirect, get:
    a reload of the answer is that page, never a POST-only URL)."""
    errors = [
        f"{form.fields[name].label or name}: {error}" if name in form.fields else str(error)
        for name, field_errors in form.errors.items()
        for error in field_errors
    ]
    messages.error(request, " ".join(errors) or "Please check the form.")
    return redirect(page)


def _console(request, *, item_form=None, test_form=None, status: int = 200):
    context = selectors.golden_console_overview()
    context["floor_percent"] = settings.GOLDEN_ACCURACY_FLOOR_PERCENT
    context["paused"] = [
        (standing, PauseLiftForm(auto_id=f"lift-{standing.pk}-%s"))
        for standing in context["paused"]
    ]
    context["item_form"] = item_form or GoldenItemForm(prefix="item")
    context["test_form"] = test_form or QualificationTestForm(
        prefix="test", item_choices=selectors.golden_platform_item_choices()
    )
    return render(request, "experts/console_golden.html", context, status=status)


@operator_required
@require_GET
def console_golden(request):
    return _console(request)


@operator_required
@require_POST
def console_golden_item_create(request):
    form = GoldenItemForm(request.POST, prefix="item")
    if not form.is_valid():
        return _refused(request, form, "console_golden")
    try:
        item = golden.golden_item_create(actor=request.user, **form.item_fields())
    except ValidationError as exc:
        form.add_error(None, _errors(exc))
        return _refused(request, form, "console_golden")
    messages.success(request, f"Golden item “{item.title}” added.")
    return redirect("console_golden")


@operator_required
@require_POST
def console_qualification_test_set(request):
    form = QualificationTestForm(
        request.POST, prefix="test", item_choices=selectors.golden_platform_item_choices()
    )
    if not form.is_valid():
        return _refused(request, form, "console_golden")
    data = form.cleaned_data
    specialization = Specialization.objects.get(slug=data["specialization"])
    try:
        golden.qualification_test_set(
            specialization=specialization,
            pass_threshold=data["pass_threshold_percent"] / 100,
            live_rate=data["live_rate_percent"] / 100,
            item_ids=data["items"],
            actor=request.user,
        )
    except ValidationError as exc:
        form.add_error(None, _errors(exc))
        return _refused(request, form, "console_golden")
    messages.success(request, f"Qualification test for {specialization.name} saved.")
    return redirect("console_golden")


@operator_required
@require_POST
def console_standing_lift(request, pk: int):
    """Lift an expert's pause in one specialization (with a reason; the page asks to confirm).
    Post, redirect, get: a second submit or a reload of the POST finds nothing paused and says
    so, changing nothing."""
    form = PauseLiftForm(request.POST)
    if not form.is_valid():
        return _refused(request, form, "console_golden")
    try:
        standing = golden.standing_pause_lift(
            standing_id=pk, operator=request.user, reason=form.cleaned_data["reason"]
        )
    except SpecializationStanding.DoesNotExist as exc:
        raise Http404("No such standing") from exc
    except ValidationError as exc:
        if getattr(exc, "code", None) == "not_paused":
            messages.info(request, _errors(exc))
        else:
            messages.error(request, _errors(exc))
        return redirect("console_golden")
    messages.success(
        request,
        f"Pause lifted: offers in {standing.specialization.name} reach {standing.expert} again.",
    )
    return redirect("console_golden")


def _company_page(request, *, form=None, status: int = 200):
    return render(
        request,
        "experts/company_golden.html",
        {
            "items": selectors.golden_items_for_organization(organization=request.organization),
            "form": form or GoldenItemForm(prefix="item"),
            "is_admin": request.membership.is_admin,
        },
        status=status,
    )


@company_required
@require_GET
def company_golden(request):
    return _company_page(request)


@company_required(admin=True)
@require_POST
def company_golden_create(request):
    form = GoldenItemForm(request.POST, prefix="item")
    if not form.is_valid():
        return _refused(request, form, "company_golden")
    try:
        item = golden.golden_item_create(
            actor=request.user, organization=request.organization, **form.item_fields()
        )
    except ValidationError as exc:
        form.add_error(None, _errors(exc))
        return _refused(request, form, "company_golden")
    messages.success(request, f"Golden item “{item.title}” added to your pool.")
    return redirect("company_golden")
