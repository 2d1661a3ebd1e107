"""The expert's offers inbox: open offers with their reason, rate, hours cap, most they can earn
and an expiry countdown; Accept and Decline are plain POST forms, the list updates live."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from marketplace.permissions import expert_required
from review_requests import services
from review_requests.matching import offer_max_earning_cents, offers_open_for_user


def _offers_context(request: HttpRequest) -> dict:
    from experts.selectors import expert_profile_for_user

    offers = offers_open_for_user(user=request.user)
    for offer in offers:
        offer.max_earning_cents = offer_max_earning_cents(offer)
    return {"offers": offers, "profile": expert_profile_for_user(user=request.user)}


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
