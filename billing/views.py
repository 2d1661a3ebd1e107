"""Billing pages (company funding, statements, receipts; expert earnings and Stripe onboarding)
and the Stripe webhook endpoint."""

from __future__ import annotations

import csv
import logging
from decimal import Decimal
from urllib.parse import urlsplit

import stripe
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import selectors, services, spend, stripe_gateway, webhooks
from billing.forms import AddFundsForm
from billing.payouts import next_payout_at
from marketplace import charts
from marketplace.permissions import company_required, expert_required

logger = logging.getLogger("inloop.billing")


def _csv_response(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return response


def _csv_cell(value):
    """A text cell that begins with =, +, - or @ would run as a formula in a spreadsheet: it gets
    a leading apostrophe. Numbers are never text here (amounts are Decimals), so they stay
    numbers, negative ones included."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return f"'{value}"
    return value


def _dollars(cents: int) -> Decimal:
    """Cents as a dollar number for CSV cells: 12345 -> Decimal("123.45"), -28200 -> -282.00."""
    return Decimal(int(cents)).scaleb(-2)


# Company ---------------------------------------------------------------------------------------


@company_required
@require_http_methods(["GET", "POST"])
def company_billing(request):
    organization = request.organization
    configured = stripe_gateway.stripe_configured() and bool(settings.STRIPE_PUBLISHABLE_KEY)
    form = AddFundsForm(request.POST or None)
    if request.method == "POST":
        if not configured:
            messages.error(request, "Card funding is not configured on this server.")
            return redirect("billing_company")
        if form.is_valid():
            try:
                funding = services.funding_start(
                    organization=organization, amount_cents=form.amount_cents(), actor=request.user
                )
            except ValidationError as error:
                form.add_error("amount", error.messages[0])
            except services.StripeUnavailable as error:
                form.add_error(None, f"Stripe could not start the payment: {error}")
            else:
                return redirect("billing_funding", pk=funding.pk)
    receipts = selectors.company_receipts(organization=organization)
    months = selectors.recent_months(count=12)
    by_month = spend.spend_by_month(organization=organization, months=months[:6])
    by_group = spend.spend_by_group(organization=organization, months=months)
    return render(
        request,
        "billing/company_billing.html",
        {
            "balance": selectors.company_balance(organization=organization),
            "form": form,
            "funding_configured": configured,
            "receipts": receipts,
            "months": months,
            "spend_by_month": by_month,
            "spend_by_month_chart": charts.column_chart(
                title="Spend by month, last 6 months (numbers in the table below)",
                labels=[row.label for row in by_month],
                series=[charts.Series("Spend", [row.net_cents for row in by_month])],
                format_value=charts.money_label,
            ),
            "spend_by_group": by_group,
            "spend_by_group_chart": charts.hbar_chart(
                title="Spend by specialization, last 12 months (numbers in the table below)",
                rows=[(row.label, row.net_cents) for row in by_group],
                format_value=charts.money_label,
            ),
        },
    )


# Stripe.js and its Payment Element, on this page only: the script, its iframes (and 3-D Secure's
# hooks.stripe.com) and its calls to api.stripe.com (Stripe's CSP guide).
STRIPE_JS_POLICY = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
}


@company_required
@require_GET
@csp_update(STRIPE_JS_POLICY)
def funding_detail(request, pk: int):
    funding = selectors.funding_get_for_org(organization=request.organization, pk=pk)
    # Back from Stripe (the Payment Element redirects here with redirect_status): the webhook
    # that credits the balance is on its way, so the page refreshes until it has arrived. (Not
    # only while "processing": an earlier declined card may have marked the top-up failed.)
    awaiting_webhook = (
        request.GET.get("redirect_status") == "succeeded"
        and funding.status != funding.Status.SUCCEEDED
    )
    return render(
        request,
        "billing/funding.html",
        {
            "balance": selectors.company_balance(organization=request.organization),
            "funding": funding,
            "awaiting_webhook": awaiting_webhook,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "return_url": request.build_absolute_uri(reverse("billing_funding", args=[pk])),
        },
    )


@company_required
@require_GET
def company_statement(request, month: str):
    statement = selectors.company_statement(organization=request.organization, month=month)
    return render(
        request,
        "billing/company_statement.html",
        {
            "balance": selectors.company_balance(organization=request.organization),
            "statement": statement,
            "month": month,
            "labels": selectors.REASON_LABELS,
        },
    )


@company_required
@require_GET
def company_statement_csv(request, month: str):
    statement = selectors.company_statement(organization=request.organization, month=month)
    # The columns of earlier statements stay where they were; `currency` is added at the end.
    rows = [
        [
            line.at.isoformat(),
            line.ref,
            line.reason,
            line.description or line.memo,
            _dollars(line.available_cents),
            _dollars(line.held_cents),
            "USD",
        ]
        for line in statement.lines
    ]
    rows.insert(
        0,
        [
            "",
            "",
            "opening_balance",
            "Opening balance",
            _dollars(statement.opening_available_cents),
            _dollars(statement.opening_held_cents),
            "USD",
        ],
    )
    rows.append(
        [
            "",
            "",
            "closing_balance",
            "Closing balance",
            _dollars(statement.closing_available_cents),
            _dollars(statement.closing_held_cents),
            "USD",
        ]
    )
    return _csv_response(
        f"inloop-statement-{request.organization.slug}-{month}.csv",
        ["time", "reference", "kind", "description", "available_usd", "held_usd", "currency"],
        rows,
    )


@company_required
@require_GET
def request_receipt(request):
    """?ref=<hold ref>&ref=...: the cost of one request's assignments (linked from the request
    page, which knows its assignments' hold refs)."""
    refs = [ref for ref in request.GET.getlist("ref") if ref][:50]
    receipt = selectors.request_receipt(organization=request.organization, hold_refs=refs)
    return render(
        request,
        "billing/receipt.html",
        {
            "balance": selectors.company_balance(organization=request.organization),
            "receipt": receipt,
            "title": request.GET.get("title", "")[:200],
        },
    )


# Experts ---------------------------------------------------------------------------------------


def _connect_onboarding_policy() -> dict[str, list[str]]:
    """The "Set up payouts" form posts here and is redirected to Stripe's hosted onboarding:
    CSP's form-action governs that redirect, so the page allows Stripe Connect's origin (and
    a configured Stripe-compatible server's, whose account links point at itself)."""
    origins = ["https://connect.stripe.com"]
    if settings.STRIPE_API_BASE:
        base = urlsplit(settings.STRIPE_API_BASE)
        origins.append(f"{base.scheme}://{base.netloc}")
    return {"form-action": origins}


@expert_required
@require_GET
@csp_update(_connect_onboarding_policy())
def expert_earnings(request):
    user = request.user
    weeks = selectors.expert_earnings_by_week(user=user, weeks=12)
    page = Paginator(selectors.expert_payouts(user=user), 20).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/expert_earnings.html",
        {
            "balance": selectors.expert_balance(user=user),
            "weeks": weeks,
            "chart": charts.column_chart(
                title=f"Earnings by week, last {len(weeks)} weeks (numbers in the table below)",
                labels=[f"{week.week_start:%b %d}" for week in weeks],
                long_labels=[f"Week of {week.week_start:%b %d}" for week in weeks],
                series=[charts.Series("Earned", [week.earned_cents for week in weeks])],
                format_value=charts.money_label,
            ),
            "page_obj": page,
            "payouts": page.object_list,
            "earnings": selectors.expert_earnings_latest(user=user, limit=20),
            "account": selectors.connected_account_for(user=user),
            "stripe_configured": stripe_gateway.stripe_configured(),
            "next_payout_at": next_payout_at(),
            "payout_minimum_cents": settings.PAYOUT_MINIMUM_CENTS,
            "months": selectors.recent_months(count=12),
        },
    )


@expert_required
@require_GET
def expert_statement(request, month: str):
    lines = selectors.expert_statement(user=request.user, month=month)
    return render(
        request,
        "billing/expert_statement.html",
        {"lines": lines, "month": month, "total": sum(line.amount_cents for line in lines)},
    )


@expert_required
@require_GET
def expert_statement_csv(request, month: str):
    lines = selectors.expert_statement(user=request.user, month=month)
    return _csv_response(
        f"inloop-earnings-{month}.csv",
        ["time", "kind", "description", "amount_usd", "status"],
        (
            [
                line.at.isoformat(),
                line.kind,
                line.description,
                _dollars(line.amount_cents),
                line.status,
            ]
            for line in lines
        ),
    )


def _onboarding_link(request, connected) -> str:
    # One link per account and minute: a double click reuses it instead of making two.
    minute = int(timezone.now().timestamp() // 60)
    link = stripe_gateway.account_link_create(
        account_id=connected.stripe_account_id,
        refresh_url=request.build_absolute_uri(reverse("billing_payouts_refresh")),
        return_url=request.build_absolute_uri(reverse("billing_payouts_return")),
        idempotency_key=f"account-link-{connected.pk}-{minute}",
    )
    return link.url


@expert_required
@require_POST
def payouts_setup(request):
    if not stripe_gateway.stripe_configured():
        messages.error(request, "Stripe is not configured on this server; payouts wait for it.")
        return redirect("billing_expert_earnings")
    try:
        connected = services.connected_account_ensure(user=request.user)
        url = _onboarding_link(request, connected)
    except stripe.StripeError as error:
        logger.warning("Stripe onboarding failed for user %s: %s", request.user.pk, error)
        messages.error(request, "Stripe could not start onboarding. Please try again in a minute.")
        return redirect("billing_expert_earnings")
    return redirect(url)


@expert_required
@require_GET
def payouts_return(request):
    """Stripe sends the expert back here; the account is re-read, never trusted from the URL."""
    connected = None
    if stripe_gateway.stripe_configured():
        try:
            connected = services.connected_account_sync(user=request.user)
        except stripe.StripeError as error:
            logger.warning("Could not re-read the Stripe account: %s", error)
            messages.warning(request, "Stripe did not answer; your status updates shortly.")
    if connected is not None and connected.payouts_enabled:
        messages.success(request, "Payouts are set up: your available earnings go out weekly.")
    elif connected is not None:
        messages.info(request, "Stripe still needs some details before payouts can start.")
    return redirect("billing_expert_earnings")


@expert_required
@require_GET
def payouts_refresh(request):
    """The onboarding link expired or was used: re-read the account and make a new link."""
    if not stripe_gateway.stripe_configured():
        return redirect("billing_expert_earnings")
    try:
        connected = services.connected_account_sync(user=request.user)
        if connected is None:
            return redirect("billing_expert_earnings")
        if connected.payouts_enabled:
            return redirect("billing_expert_earnings")
        return redirect(_onboarding_link(request, connected))
    except stripe.StripeError as error:
        logger.warning("Stripe refresh failed for user %s: %s", request.user.pk, error)
        messages.error(request, "Stripe could not continue onboarding. Please try again.")
        return redirect("billing_expert_earnings")


# Stripe webhook --------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Verify, store once, answer. Handling runs on commit (billing.tasks.stripe_event_handle)."""
    try:
        event = webhooks.stripe_event_verify(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except webhooks.WebhookRejected as error:
        logger.info("Stripe webhook rejected: %s", error)
        return HttpResponseBadRequest("invalid webhook", content_type="text/plain")
    _stored, created = webhooks.stripe_event_store(event=event)
    return HttpResponse("stored" if created else "duplicate", content_type="text/plain")
