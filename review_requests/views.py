"""Company pages: requests (new, list, detail, export), and the webhook settings and log."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.permissions import company_required
from marketplace.rendering import markdown_to_safe_html
from review_requests import company_selectors, exports, webhooks
from review_requests.estimates import request_estimate
from review_requests.forms import (
    PREVIEW_MAX_CHARS,
    EstimateForm,
    RequestFilterForm,
    ReviewRequestForm,
    RubricFormSet,
    WebhookLogFilterForm,
)
from review_requests.models import Assignment, Offer, ReviewRequest
from review_requests.selectors import review_request_get_for_org
from review_requests.serializers import review_request_to_api

PAGE_SIZE = 25


# Requests ------------------------------------------------------------------------------------


@company_required
@require_GET
def request_list(request):
    form = RequestFilterForm(request.GET or None)
    status, q = form.values()
    requests = company_selectors.review_requests_filtered(
        organization=request.organization, status=status, q=q
    )
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "review_requests/request_list.html",
        {
            "page_obj": page,
            "form": form,
            "status": status,
            "q": q,
            "statuses": company_selectors.STATUSES,
            "querystring": params.urlencode(),
            "filtered": bool(status or q),
        },
    )


@company_required
@require_GET
def request_export(request, fmt: str):
    form = RequestFilterForm(request.GET or None)
    status, q = form.values()
    requests = company_selectors.review_requests_filtered(
        organization=request.organization, status=status, q=q
    )
    return exports.streaming_response(requests=requests, fmt=fmt)


@company_required
@require_http_methods(["GET", "POST"])
def request_new(request):
    form = ReviewRequestForm(request.POST or None, organization=request.organization)
    rubric = RubricFormSet(request.POST or None, prefix="rubric")
    if request.method == "POST":
        form.rubric_formset = rubric
        if form.is_valid():
            submitted = _request_new_submit(request, form)
            if submitted is not None:
                return submitted
    return render(
        request,
        "review_requests/request_new.html",
        {
            "form": form,
            "rubric": rubric,
            "preview_max": PREVIEW_MAX_CHARS,
            "estimate": _form_estimate(request.organization, form),
            "estimate_prompt": ESTIMATE_PROMPT,
            "has_policies": form.has_policies,
        },
    )


def _request_new_submit(request, form: ReviewRequestForm):
    """The create (the API's, through the policy the form chose), then a redirect to the
    request; None when refused (the errors are on the form)."""
    from review_requests.idempotency import IdempotencyConflict
    from review_requests.services import review_request_create_from_form

    try:
        review_request, replayed = review_request_create_from_form(
            organization=request.organization,
            data=form.api_data,
            user=request.user,
            submission_key=form.submission_key(),
        )
    except ValidationError as exc:
        form.add_api_errors(exc)
        return None
    except IdempotencyConflict:
        form.submission_renew(
            "This form was already submitted with other values, and that request was sent. "
            "Submit again to send these values as a new request."
        )
        return None
    if replayed:
        messages.info(
            request, "This form was already submitted: here is the request it made (sent once)."
        )
    else:
        messages.success(request, _submitted_message(review_request))
    return redirect("company_request_detail", pk=review_request.pk)


ESTIMATE_PROMPT = (
    "Choose a specialization to see the hold an accept would place, your available balance, "
    "and how many experts fit right now."
)


def _estimate_for(organization, data: dict):
    estimate_form = EstimateForm(data)
    if not estimate_form.is_valid():
        return None, estimate_form
    return (
        request_estimate(
            organization=organization,
            specialization_slug=estimate_form.cleaned_data["specialization"],
            max_hours=estimate_form.cleaned_data["max_hours"],
            max_rate_cents=estimate_form.max_rate_cents(),
            reviewers=estimate_form.cleaned_data["reviewers"],
        ),
        estimate_form,
    )


def _form_estimate(organization, form: ReviewRequestForm):
    """The estimate of what the form holds now (a re-shown POST, or the initial values)."""
    data = form.data if form.is_bound else {}
    if not data.get("specialization"):
        return None
    return _estimate_for(organization, data)[0]


def _submitted_message(review_request: ReviewRequest) -> str:
    """Said after the submit from what matching found (it runs on commit; with a task worker it
    may not have run yet, and the request page then shows its outcome live): no estimate is
    computed again for it."""
    decided = company_selectors.oversight_sentence(review_request)
    if review_request.status == ReviewRequest.Status.AUTO_APPROVED:
        return f"Request stored. {decided}"
    said = f"{decided} " if decided else ""
    review_request.refresh_from_db(fields=["waiting_for_funds"])
    if review_request.waiting_for_funds:
        return said + (
            "Request submitted, waiting for funds: your available balance does not cover the "
            "hold of even the cheapest matching expert. Add funds and experts are offered it "
            "at once."
        )
    if review_request.offers.exists():
        return said + "Request submitted. Matching experts are being offered it now."
    return said + (
        "Request submitted. This page shows live whom it is offered to, or that it waits for "
        "funds or for an expert who fits."
    )


@company_required
@require_GET
def request_estimate_json(request):
    """What the new-request form shows as the company types: the hold an accept would place,
    the available balance, and how many experts fit right now. Nothing chosen yet: what to
    choose (200)."""
    if not request.GET.get("specialization"):
        return JsonResponse({"state": "none", "sentences": [ESTIMATE_PROMPT]})
    estimate, estimate_form = _estimate_for(request.organization, request.GET)
    if estimate is None:
        errors = {name: [str(e) for e in errs] for name, errs in estimate_form.errors.items()}
        return JsonResponse(
            {"error": "Fill in the fields the estimate needs.", "fields": errors}, status=400
        )
    return JsonResponse(estimate.as_json())


@company_required
@require_POST
def request_preview(request):
    """Markdown rendered and sanitized by the same function the pages use."""
    text = request.POST.get("text", "")
    if len(text) > PREVIEW_MAX_CHARS:
        return JsonResponse({"error": "Too long to preview."}, status=413)
    return JsonResponse({"html": markdown_to_safe_html(text)})


def _request_context(review_request: ReviewRequest) -> dict:
    assignments = sorted(review_request.assignments.all(), key=lambda a: (a.accepted_at, a.pk))
    reviews = {
        str(r["assignment_id"]): r for r in (review_request.result or {}).get("reviews") or []
    }
    result = review_request.result or None
    output = None
    if result:
        output = company_selectors.annotated_output(
            review_request.content, result.get("annotations") or []
        )
    nothing_billed = all(
        a.billed_seconds == 0 and a.status in (*Assignment.ACTIVE, "released") for a in assignments
    )
    return {
        "rr": review_request,
        "assignments": assignments,
        "reviews": reviews,
        "result": result,
        # The text the reviewers annotated and corrected (the diffs' base), when the page shows
        # the output rendered (markdown, chat) rather than as that text.
        "original_text": _output_text(review_request.content)
        if output is not None and output.kind != "text"
        else "",
        "output": output,
        "oversight": company_selectors.oversight_sentence(review_request),
        "can_cancel": review_request.status in ("queued", "in_review") and nothing_billed,
        "open_offers": review_request.offers.filter(status=Offer.Status.OPEN).count()
        if review_request.status == "queued"
        else 0,
        "result_sections": company_selectors.result_sections(
            result, review_request.rubric, {str(a.pk): a.expert.display_name for a in assignments}
        ),
        "agreement_rows": company_selectors.agreement_rows(result, review_request.rubric),
        "adjudication": company_selectors.adjudication_view(
            result, {str(a.pk): a.expert.display_name for a in assignments}
        ),
        "state_url": reverse("company_request_state", args=[review_request.pk]),
        "comparison": company_selectors.comparison_page(
            content=review_request.content or {},
            rubric=review_request.rubric or [],
            result=result,
            names={str(a.pk): a.expert.display_name for a in assignments},
        ),
    }


def _output_text(content) -> str:
    from review_requests.workspace_selectors import text_of

    return text_of(content)


@company_required
@require_GET
def request_detail(request, pk):
    review_request = review_request_get_for_org(organization=request.organization, pk=pk)
    return render(
        request,
        "review_requests/request_detail.html",
        _request_context(review_request),
    )


@company_required
@require_GET
def request_state(request, pk):
    """The contract object, for the live page to refresh itself after a push."""
    review_request = review_request_get_for_org(organization=request.organization, pk=pk)
    return JsonResponse(review_request_to_api(review_request))


@company_required
@require_POST
def request_cancel(request, pk):
    from review_requests.services import Refused
    from review_requests.services import request_cancel as cancel

    review_request = review_request_get_for_org(organization=request.organization, pk=pk)
    try:
        cancel(review_request=review_request, actor=request.user)
    except Refused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Request cancelled. Nothing was billed.")
    return redirect("company_request_detail", pk=review_request.pk)


# Webhooks --------------------------------------------------------------------------------------


@company_required
@require_GET
def webhook_log(request):
    form = WebhookLogFilterForm(request.GET or None)
    filters = form.values()
    events = webhooks.webhook_events_for_org(organization=request.organization, **filters)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.delivery_status = webhooks.webhook_event_status(event)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "review_requests/webhooks.html",
        {
            "page_obj": page,
            "form": form,
            "filters": filters,
            "querystring": params.urlencode(),
            "is_admin": request.membership.is_admin,
            "secret": request.organization.webhook_secret if request.membership.is_admin else "",
            "standard_secret": webhooks.standard_webhooks_secret(
                request.organization.webhook_secret
            )
            if request.membership.is_admin
            else "",
            "snippet": webhooks.VERIFY_SNIPPET,
            "statuses": webhooks.DELIVERY_STATUSES,
            "event_types": list(webhooks.ALL_EVENT_TYPES),
            "max_attempts": webhooks.MAX_ATTEMPTS,
            "timeout_seconds": settings.WEBHOOK_TIMEOUT_SECONDS,
        },
    )


@company_required
@require_GET
def webhook_event_detail(request, event_id: str):
    event = webhooks.webhook_event_get_for_org(organization=request.organization, pk=event_id)
    return render(
        request,
        "review_requests/webhook_event.html",
        {
            "event": event,
            "delivery_status": webhooks.webhook_event_status(event),
            "statuses": webhooks.DELIVERY_STATUSES,
            "attempts": list(event.attempt_log.order_by("-number", "-created_at")),
            "is_admin": request.membership.is_admin,
            "max_attempts": webhooks.MAX_ATTEMPTS,
        },
    )


@company_required(admin=True)
@require_POST
def webhook_event_resend(request, event_id: str):
    event = webhooks.webhook_event_get_for_org(organization=request.organization, pk=event_id)
    webhooks.webhook_event_resend(event=event, actor=request.user)
    messages.success(request, f"Event {event.pk} queued to be sent again (same id, same body).")
    return redirect("company_webhook_event", event_id=event.pk)
