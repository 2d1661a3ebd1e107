"""The offers pipeline: who gets offered a request, and the reads of offers.

`experts.selectors.candidates_rank` ranks (every hard filter, the score, the reason);
this module turns open reviewer slots into offers: the top K (settings.OFFER_FANOUT) per open
slot, each expiring after settings.OFFER_EXPIRY_MINUTES, and only while the company's available
balance covers the hold an accept would place. Accepting is review_requests.services.offer_accept.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from review_requests.models import Offer, ReviewRequest
from review_requests.services import (
    FILLED_STATUSES,
    _lock_request,
    _set_waiting_for_funds,
    hold_scope,
    reviewer_slots,
)

# How many queued requests one supply change or one sweep re-matches (bounded work per event).
REMATCH_LIMIT = 50


def matching_run(*, review_request: ReviewRequest) -> int:
    """Offer each open reviewer slot to the top K candidates (settings.OFFER_FANOUT) not yet
    offered or assigned, while the company's balance covers the hold. Returns offers created."""

    from experts.selectors import candidates_rank
    from review_requests.models import Offer

    fanout = settings.OFFER_FANOUT
    with transaction.atomic():
        rr = _lock_request(review_request.pk)
        now = timezone.now()
        if rr.is_golden:
            # Put to one expert at a time; a lapsed live one goes to one other (golden.py).
            from review_requests.golden import golden_reoffer_locked

            return golden_reoffer_locked(review_request=rr, now=now)
        wanted_slots = _matching_wanted(rr=rr, now=now, fanout=fanout)
        if wanted_slots is None:
            return 0
        open_slots, open_offers, wanted = wanted_slots
        excluded = set(rr.offers.values_list("expert_id", flat=True)) | set(
            rr.assignments.values_list("expert_id", flat=True)
        )
        # Ask for a few more than needed: some may cost more than the balance covers.
        candidates = candidates_rank(
            specialization_slug=rr.specialization.slug,
            max_rate_cents=rr.max_hourly_rate_cents,
            organization_id=rr.organization_id,
            exclude_expert_ids=excluded,
            now=now,
            deadline=rr.deadline,
            limit=wanted + fanout,
        )
        offers, short_for_funds = _matching_offers_build(
            rr=rr, candidates=candidates, wanted=wanted, open_slots=open_slots, now=now
        )
        if offers:
            Offer.objects.bulk_create(offers)
            _matching_offers_notify(rr=rr, offers=offers, candidates=candidates)
        still_open = open_offers + len(offers)
        _set_waiting_for_funds(rr, bool(short_for_funds) and still_open == 0, short_for_funds)
    return len(offers)


def _matching_wanted(*, rr: ReviewRequest, now, fanout: int) -> tuple[int, int, int] | None:
    """(open slots, open offers, offers wanted) of a locked request, or None when it wants no
    offer now (not matchable, past its deadline, every slot filled or offered)."""
    if rr.status not in (ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW):
        return None
    if rr.deadline is not None and rr.deadline <= now:
        return None
    filled = rr.assignments.filter(status__in=FILLED_STATUSES).count()
    open_slots = reviewer_slots(rr) - filled
    if open_slots <= 0:
        return None
    open_offers = rr.offers.filter(status=Offer.Status.OPEN, expires_at__gt=now).count()
    # The adjudication slot goes to one expert at a time, the best ranked (a decline or an
    # expiry offers it to the next).
    per_slot = 1 if _adjudicating(rr) else fanout
    wanted = open_slots * per_slot - open_offers
    if wanted <= 0:
        return None
    return open_slots, open_offers, wanted


def _adjudicating(rr: ReviewRequest) -> bool:
    """The open slot is the adjudicator's: one is wanted and every independent slot is filled
    (after a dispute's rework an independent slot may be open again; it is offered as such)."""
    if rr.adjudication_wanted_at is None:
        return False
    independent = rr.assignments.filter(status__in=FILLED_STATUSES, adjudicator=False).count()
    return independent >= rr.reviewers


def _matching_offers_build(
    *, rr: ReviewRequest, candidates: list, wanted: int, open_slots: int, now
) -> tuple[list[Offer], int]:
    """(the unsaved offers to the best candidates whose hold the balance covers, the first hold
    that it did not cover or 0)."""
    from billing.selectors import company_available_cents, platform_hold_grants_open
    from billing.services import hold_amount_for
    from marketplace.selectors import platform_fee_percent

    fee_percent = platform_fee_percent()
    available = company_available_cents(organization=rr.organization)
    adjudicating = _adjudicating(rr)
    # A rework the platform pays for (a dispute's outcome) is offered whatever the
    # company's balance: the accept places the hold on the platform.
    platform_pays = (
        platform_hold_grants_open(scope=hold_scope(review_request_id=rr.pk)) >= open_slots
    )
    expires_at = now + timedelta(minutes=settings.OFFER_EXPIRY_MINUTES)
    offers: list[Offer] = []
    short_for_funds = 0
    for candidate in candidates:
        if len(offers) >= wanted:
            break
        hold = hold_amount_for(
            max_hours=rr.max_hours, rate_cents=candidate.rate_cents, fee_percent=fee_percent
        )
        if hold > available and not platform_pays:
            short_for_funds = short_for_funds or hold
            continue
        offers.append(
            Offer(
                review_request=rr,
                expert_id=candidate.expert_id,
                rate_cents=candidate.rate_cents,
                score=candidate.score,
                reason=candidate.reason[:300],
                created_at=now,
                expires_at=expires_at,
                adjudicator=adjudicating,
            )
        )
    return offers, short_for_funds


def _matching_offers_notify(*, rr: ReviewRequest, offers: list[Offer], candidates: list) -> None:
    """Each offered expert hears of the offer (inside the matching transaction)."""
    from marketplace.models import User
    from marketplace.services import notify

    users = User.objects.in_bulk([c.user_id for c in candidates])
    by_expert = {c.expert_id: c for c in candidates}
    hours = f"{float(rr.max_hours):g} h"
    for offer in offers:
        candidate = by_expert[offer.expert_id]
        user = users.get(candidate.user_id)
        if user is None:
            continue
        notify(
            user=user,
            kind="offer",
            title=f"New offer: {rr.title[:120]}",
            body=(
                f"{rr.specialization.name}, up to {hours} at "
                f"${offer.rate_cents / 100:,.2f}/h. {offer.reason}"
            ),
            url="/expert/offers/",
        )


def matching_run_many(*, review_request_ids) -> int:
    """One matching pass over several requests (batch create, sweeps). Returns offers created."""
    total = 0
    for pk in review_request_ids:
        total += matching_run(review_request=ReviewRequest(pk=pk))
    return total


def _needs_offers() -> QuerySet[ReviewRequest]:
    now = timezone.now()
    # Golden requests are put to one expert and never matched: left out, so the sweep's bounded
    # batch is spent on requests that can use it.
    return ReviewRequest.objects.filter(
        status__in=(ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW), is_golden=False
    ).exclude(deadline__lte=now)


def matching_for_expert(*, expert_id, limit: int = REMATCH_LIMIT) -> int:
    """An expert's supply changed (availability, switch, rate, credentials, freed capacity):
    re-match the oldest open requests in their specializations (or a parent of one) that were
    never offered to them. Bounded to `limit` requests."""
    from experts.models import ExpertSpecialization

    slugs = set(
        ExpertSpecialization.objects.filter(expert_id=expert_id).values_list(
            "specialization__slug", flat=True
        )
    )
    if not slugs:
        return 0
    # A request for `medicine` matches a radiologist: include every ancestor of their slugs.
    wanted = {
        ".".join(slug.split(".")[: i + 1]) for slug in slugs for i in range(slug.count(".") + 1)
    }
    ids = list(
        _needs_offers()
        .filter(specialization__slug__in=wanted)
        .exclude(offers__expert_id=expert_id)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return matching_run_many(review_request_ids=ids)


def matching_sweep(*, limit: int = REMATCH_LIMIT) -> int:
    """Periodic safety net: requests with open slots and no open offer (nobody fitted, funds
    were short, a signal was missed) are matched again, oldest first, bounded."""
    now = timezone.now()
    ids = list(
        _needs_offers()
        .exclude(offers__status=Offer.Status.OPEN, offers__expires_at__gt=now)
        .order_by("created_at")
        .values_list("pk", flat=True)[: limit * 2]
    )
    ids = [pk for pk in ids if _open_slots(pk) > 0][:limit]
    return matching_run_many(review_request_ids=ids)


def matching_for_funds(*, organization_id, limit: int = REMATCH_LIMIT) -> int:
    """Funds arrived: re-match the organization's requests that were waiting for them."""
    ids = list(
        _needs_offers()
        .filter(organization_id=organization_id, waiting_for_funds=True)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return matching_run_many(review_request_ids=ids)


def _open_slots(review_request_id) -> int:
    rr = ReviewRequest.objects.only("reviewers", "adjudication_wanted_at").get(pk=review_request_id)
    return reviewer_slots(rr) - rr.assignments.filter(status__in=FILLED_STATUSES).count()


# Reads ---------------------------------------------------------------------------------------


def offers_open_for_user(*, user) -> list[Offer]:
    """The expert's open, unexpired offers, soonest expiry first."""
    return list(
        Offer.objects.filter(
            expert__user=user, status=Offer.Status.OPEN, expires_at__gt=timezone.now()
        )
        .select_related("review_request__specialization")
        .order_by("expires_at", "id")
    )


def offer_max_earning_cents(offer: Offer) -> int:
    """What the expert earns at most: the hours cap at the offered rate (the fee is on top)."""
    from billing.services import expert_cents_for
    from review_requests.services import _max_seconds

    return expert_cents_for(
        billed_seconds=_max_seconds(offer.review_request.max_hours), rate_cents=offer.rate_cents
    )


def offer_to_api(offer: Offer) -> dict:
    rr = offer.review_request
    return {
        "id": str(offer.pk),
        "status": offer.status,
        "review_request": {
            "id": str(rr.pk),
            "status": rr.status,
            "title": rr.title,
            "specialization": rr.specialization.slug,
            "content_type": rr.content_type,
            "created_at": rr.created_at.isoformat(),
            "deadline": rr.deadline.isoformat() if rr.deadline else None,
            "reviewers": rr.reviewers,
            "max_hours": float(rr.max_hours),
            "currency": rr.currency,
        },
        "rate_cents": offer.rate_cents,
        "adjudicator": offer.adjudicator,
        "reason": offer.reason,
        "max_earning_cents": offer_max_earning_cents(offer),
        "expires_at": offer.expires_at.isoformat(),
    }
