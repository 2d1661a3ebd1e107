"""Operator console pages. Every view is operator_required (operators with MFA); every action
goes through one service that leaves an audit record."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from experts.selectors import expert_profile_for_user
from inloop_site.console import audit_diff, forms, selectors
from inloop_site.console import services as console_services
from marketplace import charts
from marketplace import selectors as core_selectors
from marketplace import services as core_services
from marketplace.models import AuditLog, Organization, User
from marketplace.permissions import operator_required
from marketplace.services import audit_record
from review_requests.agreement_selectors import expert_agreement_recent
from review_requests.models import Assignment

PAGE_SIZE = 50


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _page(request, qs, size: int = PAGE_SIZE):
    return Paginator(qs, size).get_page(request.GET.get("page"))


def _querystring(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# Dashboard -------------------------------------------------------------------------------------


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@operator_required
@require_GET
def console_home(request):
    now = timezone.now()
    health = selectors.queue_health(now=now)
    money = selectors.money_by_week(now=now)
    supply = selectors.supply(now=now)
    disputes_by_age = selectors.open_disputes_by_age(now=now)
    week_labels = [timezone.localtime(row.week).strftime("%b %d") for row in money]
    money_chart = charts.column_chart(
        title="Money by week: funding, captured, fees, payouts, refunds",
        labels=week_labels,
        series=[
            charts.Series(label, [getattr(row, name) for row in money])
            for name, label in selectors.MONEY_SERIES
        ],
        format_value=charts.money_label,
        format_axis=charts.money_axis,
    )
    queue_chart = charts.column_chart(
        title="Requests by state now",
        labels=["Queued", "In review", "Disputed", "Waiting for funds", "At risk"],
        series=[
            charts.Series(
                "Requests",
                [
                    health.queued,
                    health.in_review,
                    health.disputed,
                    health.waiting_for_funds,
                    health.at_risk,
                ],
            )
        ],
    )
    disputes_chart = charts.column_chart(
        title="Open disputes by age",
        labels=[label for label, _ in disputes_by_age],
        series=[charts.Series("Disputes", [n for _, n in disputes_by_age])],
    )
    return render(
        request,
        "console/home.html",
        {
            "health": health,
            "p50": _hours(health.first_accept_p50_seconds),
            "p95": _hours(health.first_accept_p95_seconds),
            "money": money,
            "money_series": selectors.MONEY_SERIES,
            "money_chart": money_chart,
            "queue_chart": queue_chart,
            "supply": supply,
            "disputes_by_age": disputes_by_age,
            "disputes_open": sum(n for _, n in disputes_by_age),
            "disputes_chart": disputes_chart,
            # One row per field, most experts first, so no label can overlap another.
            "supply_chart": charts.hbar_chart(
                title="Experts available now by field",
                rows=sorted(supply.available_by_field, key=lambda row: -row[1]),
            ),
        },
    )


# Users -------------------------------------------------------------------------------------------


@operator_required
@require_GET
def users(request):
    qs = selectors.users_search(
        q=request.GET.get("q", ""),
        account_type=request.GET.get("type", ""),
        suspended=request.GET.get("suspended", ""),
    )
    return render(
        request,
        "console/users.html",
        {
            "page_obj": _page(request, qs),
            "querystring": _querystring(request),
            "q": request.GET.get("q", ""),
            "type": request.GET.get("type", ""),
            "suspended": request.GET.get("suspended", ""),
            "account_types": User.AccountType.choices,
        },
    )


@operator_required
@require_GET
def user_detail(request, pk: int):
    person = get_object_or_404(User, pk=pk)
    membership = person.memberships.select_related("organization").first()
    profile = expert_profile_for_user(user=person)
    return render(
        request,
        "console/user_detail.html",
        {
            "person": person,
            "membership": membership,
            "agreement": expert_agreement_recent(expert_id=profile.pk) if profile else None,
            "form": forms.SuspendForm(),
            "recent_audit": AuditLog.objects.filter(object_type="user", object_id=str(person.pk))[
                :20
            ],
        },
    )


@operator_required
@require_POST
def user_suspend(request, pk: int):
    person = get_object_or_404(User, pk=pk)
    form = forms.SuspendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for the suspension.")
        return redirect("console_user", pk=pk)
    try:
        core_services.user_suspend(
            user=person, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{person.email} is suspended: sessions, sockets and keys stop.")
    return redirect("console_user", pk=pk)


@operator_required
@require_POST
def user_reinstate(request, pk: int):
    person = get_object_or_404(User, pk=pk)
    try:
        core_services.user_reinstate(user=person, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{person.email} is reinstated.")
    return redirect("console_user", pk=pk)


# Organizations and credit -----------------------------------------------------------------------


@operator_required
@require_GET
def organizations(request):
    qs = selectors.organizations_with_balances(q=request.GET.get("q", ""))
    return render(
        request,
        "console/organizations.html",
        {
            "page_obj": _page(request, qs),
            "querystring": _querystring(request),
            "q": request.GET.get("q", ""),
        },
    )


@operator_required
@require_http_methods(["GET", "POST"])
def organization_detail(request, pk):
    """The credit form, then a confirmation page that says what will happen (`confirm` absent),
    then the change (`confirm=1`, the same request token: a re-POST changes nothing again)."""
    from billing import money_actions
    from billing.models import CreditGrant
    from billing.selectors import company_balance

    organization = get_object_or_404(Organization, pk=pk)
    form = forms.CreditForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        kind = (
            money_actions.Kind.CREDIT_GRANT
            if form.cleaned_data["direction"] == "grant"
            else money_actions.Kind.CREDIT_REVOKE
        )
        try:
            preview = money_actions.money_action_preview(
                kind=kind, organization=organization, amount_cents=form.cleaned_data["amount"]
            )
            if request.POST.get("confirm") == "1":
                return _credit_confirmed(request, organization, form, kind)
        except ValidationError as exc:
            _form_errors(form, exc)
            preview = None
    return render(
        request,
        "console/organization_detail.html",
        {
            "organization": organization,
            "balance": company_balance(organization=organization),
            "members": core_selectors.organization_members(organization=organization),
            "grants": CreditGrant.objects.filter(organization=organization)
            .select_related("actor")
            .order_by("-created_at")[:50],
            "form": form,
            "preview": preview,
            # A form posted without a token (an old page) gets one for its confirmation.
            "request_token": (form.cleaned_data.get("request_token") or uuid.uuid4())
            if preview
            else None,
        },
    )


def _form_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, exc)


def _credit_confirmed(request, organization, form, kind):
    from billing import money_actions

    token = form.cleaned_data["request_token"]
    if token is None:
        raise ValidationError("This confirmation has no token: fill in the form again.")
    proposal = money_actions.money_action_propose(
        kind=kind,
        operator=request.user,
        reason=form.cleaned_data["reason"],
        request_token=token,
        organization=organization,
        amount_cents=form.cleaned_data["amount"],
    )
    _report_money_action(request, proposal)
    return redirect("console_organization", pk=organization.pk)


def _report_money_action(request, proposal) -> None:
    """One message for the operator: done, waiting for a second operator, or already done."""
    from billing import money_actions

    action = proposal.action
    if proposal.replayed:
        messages.info(
            request,
            f"This confirmation was already submitted ({action.get_status_display().lower()}); "
            "nothing was done again.",
        )
    elif action.status == money_actions.Status.AWAITING_APPROVAL:
        messages.success(request, f"Waiting for a second operator: {action.summary}")
    else:
        stripe_outcome = money_actions.money_action_stripe_step(action=action)
        done = f" Stripe: {stripe_outcome}." if stripe_outcome else ""
        messages.success(request, f"Done: {action.summary}{done}")


# Settings ----------------------------------------------------------------------------------------


@operator_required
@require_http_methods(["GET", "POST"])
def platform_settings(request):
    from marketplace.models import PlatformSettings

    row = PlatformSettings.objects.filter(pk=1).first()
    threshold = row.dispute_approval_threshold_cents if row else None
    initial = {
        "fee_percent": row.fee_percent if row else None,
        "dispute_window_hours": row.dispute_window_hours if row else None,
        "dispute_approval_threshold": None if threshold is None else f"{threshold / 100:.2f}",
    }
    form = forms.PlatformSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        core_services.platform_settings_update(
            actor=request.user,
            fee_percent=form.cleaned_data["fee_percent"],
            dispute_window_hours=form.cleaned_data["dispute_window_hours"],
            dispute_approval_threshold_cents=form.threshold_cents(),
        )
        messages.success(request, "Settings saved. New holds and captures use them.")
        return redirect("console_settings")
    from django.conf import settings

    return render(
        request,
        "console/settings.html",
        {
            "form": form,
            "row": row,
            "effective_fee": core_selectors.platform_fee_percent(),
            "effective_window": core_selectors.dispute_window_hours(),
            "default_fee": settings.PLATFORM_FEE_PERCENT,
            "default_window": settings.DISPUTE_WINDOW_HOURS,
            "effective_threshold_cents": core_selectors.dispute_approval_threshold_cents(),
            "default_threshold_cents": settings.DISPUTE_APPROVAL_THRESHOLD_CENTS,
        },
    )


# Audit log ----------------------------------------------------------------------------------------


def _audit_filters(request) -> tuple[forms.AuditFilterForm, selectors.AuditFilters]:
    form = forms.AuditFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        date_from, date_to = form.range()
        filters = selectors.AuditFilters(
            actor=form.cleaned_data["actor"].strip(),
            action=form.cleaned_data["action"].strip(),
            object=form.cleaned_data["object"].strip(),
            date_from=date_from,
            date_to=date_to,
        )
    else:
        filters = selectors.AuditFilters()
    return form, filters


@operator_required
@require_GET
def audit_log(request):
    form, filters = _audit_filters(request)
    qs = selectors.audit_search(filters=filters)
    params = request.GET.copy()
    params.pop("page", None)
    page_obj = _page(request, qs)
    return render(
        request,
        "console/audit.html",
        {
            "form": form,
            "page_obj": page_obj,
            "entries": _audit_entries(page_obj.object_list),
            "querystring": params.urlencode(),
        },
    )


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _audit_entries(rows) -> list[tuple[AuditLog, list[audit_diff.DiffRow]]]:
    """Each row with its readable diff; the owners its ledger accounts name, in two queries."""
    rows = list(rows)
    keys = set()
    for row in rows:
        if row.object_type == "ledger":
            keys |= audit_diff.owner_keys(before=row.before, after=row.after)
    org_ids = [_uuid_or_none(key.removeprefix("org:")) for key in keys if key.startswith("org:")]
    org_ids = [pk for pk in org_ids if pk is not None]
    user_ids = [
        int(key.removeprefix("user:"))
        for key in keys
        if key.startswith("user:") and key.removeprefix("user:").isdigit()
    ]
    names = {}
    if org_ids:
        for pk, name in Organization.objects.filter(pk__in=org_ids).values_list("pk", "name"):
            names[f"org:{pk}"] = name
    if user_ids:
        for pk, email in User.objects.filter(pk__in=user_ids).values_list("pk", "email"):
            names[f"user:{pk}"] = email
    return [
        (
            row,
            audit_diff.audit_diff(
                before=row.before,
                after=row.after,
                ledger=row.object_type == "ledger",
                account_names=names,
            ),
        )
        for row in rows
    ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(qs) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            "time",
            "actor",
            "action",
            "object_type",
            "object_id",
            "organization",
            "before",
            "after",
            "ip",
        ]
    )
    for row in qs.iterator(chunk_size=500):
        yield writer.writerow(
            [
                row.created_at.isoformat(),
                row.actor_label,
                row.action,
                row.object_type,
                row.object_id,
                row.organization.name if row.organization else "",
                "" if row.before is None else json.dumps(row.before, sort_keys=True),
                "" if row.after is None else json.dumps(row.after, sort_keys=True),
                row.ip or "",
            ]
        )


@operator_required
@require_GET
def audit_export(request):
    _form, filters = _audit_filters(request)
    audit_record(
        actor=request.user,
        action="audit.exported",
        object_type="audit_log",
        after={"filters": request.GET.dict()},
    )
    qs = selectors.audit_search(filters=filters)
    response = StreamingHttpResponse(_csv_rows(qs), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="inloop-audit-{stamp}.csv"'
    return response


# Stuck requests -----------------------------------------------------------------------------------


@operator_required
@require_GET
def stuck_requests(request):
    kind = request.GET.get("kind", "queued_long")
    if kind not in selectors.STUCK_KINDS:
        kind = "queued_long"
    qs = selectors.stuck_requests(kind=kind, now=timezone.now())
    return render(
        request,
        "console/requests.html",
        {
            "kind": kind,
            "kinds": selectors.STUCK_KINDS,
            "page_obj": _page(request, qs),
            "querystring": _querystring(request),
        },
    )


@operator_required
@require_GET
def request_detail(request, pk):
    review_request = selectors.request_get_for_operator(pk=pk)
    return render(
        request,
        "console/request_detail.html",
        {
            "rr": review_request,
            "assignments": review_request.assignments.select_related("expert__user"),
            "offers": review_request.offers.select_related("expert").order_by("-created_at")[:50],
            "history": review_request.history.select_related("actor"),
            "reason_form": forms.ReasonForm(),
            "active_statuses": Assignment.ACTIVE,
        },
    )


@operator_required
@require_POST
def request_reoffer(request, pk):
    review_request = selectors.request_get_for_operator(pk=pk)
    try:
        created = console_services.console_request_reoffer(
            review_request=review_request, actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{created} new offer(s) sent.")
    return redirect("console_request", pk=pk)


@operator_required
@require_POST
def request_cancel(request, pk):
    review_request = selectors.request_get_for_operator(pk=pk)
    form = forms.ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for cancelling.")
        return redirect("console_request", pk=pk)
    try:
        console_services.console_request_cancel(
            review_request=review_request, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, "Request cancelled; its holds were released.")
    return redirect("console_request", pk=pk)


@operator_required
@require_POST
def assignment_reassign(request, pk):
    assignment = get_object_or_404(
        Assignment.objects.select_related("review_request__organization"), pk=pk
    )
    form = forms.ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for reassigning.")
        return redirect("console_request", pk=assignment.review_request_id)
    try:
        console_services.console_assignment_reassign(
            assignment=assignment, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, "The expert was released; the request is offered again.")
    return redirect("console_request", pk=assignment.review_request_id)


# Payouts --------------------------------------------------------------------------------------------


@operator_required
@require_GET
def payouts(request):
    kind = request.GET.get("kind", "stuck")
    if kind not in selectors.PAYOUT_FILTERS:
        kind = "stuck"
    qs = selectors.payouts_for_console(kind=kind, now=timezone.now())
    return render(
        request,
        "console/payouts.html",
        {
            "kind": kind,
            "kinds": selectors.PAYOUT_FILTERS,
            "page_obj": _page(request, qs),
            "querystring": _querystring(request),
            "reason_form": forms.ReasonForm(),
        },
    )


def _payout_action(request, pk: int, kind: str, title: str):
    """GET: the confirmation page (what will happen, in dollars). POST: the action, once per
    confirmation page (billing.money_actions)."""
    from billing import money_actions
    from billing.models import Payout

    payout = get_object_or_404(Payout.objects.select_related("user"), pk=pk)
    form = forms.MoneyConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            proposal = money_actions.money_action_propose(
                kind=kind,
                operator=request.user,
                reason=form.cleaned_data["reason"],
                request_token=form.cleaned_data["request_token"],
                payout=payout,
            )
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            _report_money_action(request, proposal)
        return redirect("console_payouts")
    try:
        preview = money_actions.money_action_preview(kind=kind, payout=payout)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("console_payouts")
    return render(
        request,
        "console/money_confirm.html",
        {"title": title, "payout": payout, "preview": preview, "form": form},
    )


@operator_required
@require_http_methods(["GET", "POST"])
def payout_retry(request, pk: int):
    from billing.money_actions import Kind

    return _payout_action(request, pk, Kind.PAYOUT_RETRY, "Retry payout")


@operator_required
@require_http_methods(["GET", "POST"])
def payout_mark_failed(request, pk: int):
    from billing.money_actions import Kind

    return _payout_action(request, pk, Kind.PAYOUT_MARK_FAILED, "Mark payout failed")


@operator_required
@require_http_methods(["GET", "POST"])
def payout_reverse(request, pk: int):
    from billing.money_actions import Kind

    return _payout_action(request, pk, Kind.PAYOUT_REVERSE, "Reverse payout transfer")


# Money actions waiting for a second operator --------------------------------------------------------


@operator_required
@require_GET
def money_actions(request):
    from billing import money_actions as service
    from billing.models import MoneyAction

    recent = MoneyAction.objects.exclude(status=service.Status.AWAITING_APPROVAL).select_related(
        "proposed_by", "decided_by"
    )
    return render(
        request,
        "console/money_actions.html",
        {
            "awaiting": service.money_actions_awaiting(),
            "page_obj": _page(request, recent),
            "querystring": _querystring(request),
            "threshold_cents": service.money_approval_threshold_cents(),
            "reason_form": forms.ReasonForm(),
        },
    )


@operator_required
@require_POST
def money_action_approve(request, pk: int):
    from django.core.exceptions import PermissionDenied

    from billing import money_actions as service

    action = get_object_or_404(service.MoneyAction, pk=pk)
    try:
        action = service.money_action_approve(action=action, operator=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        if action.status == service.Status.EXECUTED:
            _report_money_action(request, service.Proposal(action, replayed=False))
        else:
            messages.error(request, f"Refused: {action.outcome}")
    return redirect("console_money_actions")


@operator_required
@require_POST
def money_action_reject(request, pk: int):
    from django.core.exceptions import PermissionDenied

    from billing import money_actions as service

    action = get_object_or_404(service.MoneyAction, pk=pk)
    form = forms.ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the action is sent back.")
        return redirect("console_money_actions")
    try:
        service.money_action_reject(
            action=action, operator=request.user, note=form.cleaned_data["reason"]
        )
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, "Sent back; nothing moved.")
    return redirect("console_money_actions")


# Disputes ------------------------------------------------------------------------------------------


@operator_required
@require_GET
def disputes(request):
    from review_requests.models import Dispute

    qs = selectors.disputes_for_console(
        status=request.GET.get("status", ""),
        category=request.GET.get("category", ""),
        flagged=request.GET.get("flagged", ""),
        q=request.GET.get("q", ""),
    )
    return render(
        request,
        "console/disputes.html",
        {
            "page_obj": _page(request, qs),
            "querystring": _querystring(request),
            "status": request.GET.get("status", ""),
            "category": request.GET.get("category", ""),
            "flagged": request.GET.get("flagged", ""),
            "q": request.GET.get("q", ""),
            "statuses": Dispute.Status.choices,
            "categories": Dispute.Category.choices,
            "now": timezone.now(),
        },
    )


def _case_context(request, dispute, decision_form=None, reject_form=None) -> dict:
    from review_requests import dispute_selectors

    return {
        "dispute": dispute,
        "phase": dispute_selectors.dispute_phase(dispute=dispute),
        "evidence": dispute_selectors.dispute_evidence(dispute=dispute),
        "timeline": dispute_selectors.dispute_timeline(dispute=dispute, for_operator=True),
        "decision_form": decision_form or forms.DecisionForm(),
        "reject_form": reject_form or forms.ReasonForm(),
        "threshold_cents": core_selectors.dispute_approval_threshold_cents(),
        "can_approve": dispute.status == "awaiting_approval"
        and dispute.decided_by_id != request.user.pk,
    }


@operator_required
@require_http_methods(["GET", "POST"])
def dispute_case(request, pk):
    from review_requests import dispute_selectors, dispute_services

    dispute = dispute_selectors.dispute_get_for_operator(pk=pk)
    form = forms.DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispute = dispute_services.dispute_decide(
                dispute=dispute,
                operator=request.user,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                amount_cents=form.cleaned_data.get("amount"),
                rework_funded_by=form.cleaned_data.get("rework_funded_by") or "",
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                form.add_error(None, exc)
        else:
            if dispute.status == "awaiting_approval":
                messages.success(
                    request,
                    "Decision recorded; a second operator must approve it (over the limit).",
                )
            else:
                messages.success(request, "Dispute decided; both parties were notified.")
            return redirect("console_dispute", pk=dispute.pk)
    return render(request, "console/dispute_case.html", _case_context(request, dispute, form))


@operator_required
@require_POST
def dispute_approve(request, pk):
    from django.core.exceptions import PermissionDenied

    from review_requests import dispute_selectors, dispute_services

    dispute = dispute_selectors.dispute_get_for_operator(pk=pk)
    try:
        dispute_services.dispute_approve(dispute=dispute, operator=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, "Decision approved and executed; both parties were notified.")
    return redirect("console_dispute", pk=dispute.pk)


@operator_required
@require_POST
def dispute_reject(request, pk):
    from django.core.exceptions import PermissionDenied

    from review_requests import dispute_selectors, dispute_services

    dispute = dispute_selectors.dispute_get_for_operator(pk=pk)
    form = forms.ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the proposal is sent back.")
        return redirect("console_dispute", pk=dispute.pk)
    try:
        dispute_services.dispute_proposal_reject(
            dispute=dispute, operator=request.user, note=form.cleaned_data["reason"]
        )
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, "Proposal sent back; the case is ready for a new decision.")
    return redirect("console_dispute", pk=dispute.pk)
