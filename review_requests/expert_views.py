"""The expert's offers inbox: open offers with their reason, rate, hours cap, most they can earn
and an expiry countdown; Accept and Decline are plain POST forms, the list updates live."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST

from marketplace.permissions import expert_required
from review_requests import comparison as comparisons
from review_requests import services
from review_requests.matching import offer_max_earning_cents, offers_open_for_user
from review_requests.workspace_selectors import text_of

PREVIEW_CHARS = 280


def _offers_context(request: HttpRequest) -> dict:
    from experts.selectors import expert_profile_for_user

    offers = offers_open_for_user(user=request.user)
    for offer in offers:
        offer.max_earning_cents = offer_max_earning_cents(offer)
        offer.candidates = _candidates_preview(offer)
    return {"offers": offers, "profile": expert_profile_for_user(user=request.user)}


def _candidates_preview(offer) -> list[dict]:
    """A comparison's candidates as the offer shows them, side by side: shuffled (seeded by the
    offer), models never shown, text cut to a preview. Empty for other requests."""
    content = offer.review_request.content or {}
    if not comparisons.is_comparison(content):
        return []
    shown = comparisons.candidates_shown(content, seed=str(offer.pk), hide_models=True)
    return [
        {"type": c["type"], "preview": Truncator(text_of(c)).chars(PREVIEW_CHARS)} for c in shown
    ]


@require_GET
@expert_required
def offers_inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "review_requests/offers.html", _offers_context(request))


@require_GET
@expert_required
def offers_fragment(request: HttpRequest) -> HttpResponse:
    """The list alone, for offers.js to swap in when an offer arrives."""
    return render(request, "review_requests/_offer_list.html", _offers_context(request))


def _offer_pk(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Http404("No such offer") from exc


@require_POST
@expert_required
def offer_accept(request: HttpRequest, pk) -> HttpResponse:
    try:
        assignment = services.offer_accept(offer_id=_offer_pk(pk), expert=request.user)
    except services.Refused as exc:
        if exc.status == 404:
            raise Http404("No such offer") from exc
        messages.error(request, exc.message)
        return redirect("expert_offers")
    messages.success(request, "Accepted. The clock starts when you work in the workspace.")
    return redirect(f"/workspace/{assignment.pk}/")


@require_POST
@expert_required
def offer_decline(request: HttpRequest, pk) -> HttpResponse:
    try:
        services.offer_decline(offer_id=_offer_pk(pk), expert=request.user)
    except services.Refused as exc:
        if exc.status == 404:
            raise Http404("No such offer") from exc
        messages.error(request, exc.message)
        return redirect("expert_offers")
    messages.success(request, "Declined. We will offer it to someone else.")
    return redirect("expert_offers")
