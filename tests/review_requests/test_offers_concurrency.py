"""50 concurrent accepts on PostgreSQL (real row locks; SQLite ignores them): exactly one winner
per slot, never more assignments than reviewers, never an expert over their cap, and the
company's balance never below zero."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connections

from billing.selectors import company_balance
from billing.services import hold_amount_for
from experts.models import ExpertProfile
from review_requests.models import Assignment, Offer
from review_requests.services import Refused, offer_accept
from tests.factories import CreditGrantFactory, OfferFactory, ReviewRequestFactory
from tests.review_requests.api_offers_support import radiologist

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

HOLD = hold_amount_for(max_hours=Decimal("1"), rate_cents=10_000, fee_percent=Decimal(20))
ALLOWED_REFUSALS = {"offer_taken", "at_capacity", "insufficient_funds"}


def _fire(offers: list[Offer]) -> tuple[list[str], list[str]]:
    barrier = threading.Barrier(len(offers))
    wins: list[str] = []
    refusals: list[str] = []
    lock = threading.Lock()

    def accept(offer: Offer) -> None:
        try:
            barrier.wait()
            try:
                assignment = offer_accept(offer_id=offer.pk, expert=offer.expert)
                with lock:
                    wins.append(str(assignment.pk))
            except Refused as exc:
                with lock:
                    refusals.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(offer,)) for offer in offers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wins, refusals


def _setup(organization, *, funds_cents: int):
    CreditGrantFactory(organization=organization, amount_cents=funds_cents)
    experts = [radiologist(max_concurrent=2) for _ in range(10)]
    requests = [
        ReviewRequestFactory(organization=organization, reviewers=2, title=f"r{i}")
        for i in range(5)
    ]
    offers = [
        OfferFactory(review_request=rr, expert=expert) for rr in requests for expert in experts
    ]
    assert len(offers) == 50
    return experts, requests, offers


def _check_invariants(organization, funds_cents: int) -> None:
    per_request = Counter(Assignment.objects.values_list("review_request_id", flat=True))
    assert all(count <= 2 for count in per_request.values()), per_request
    per_expert = Counter(Assignment.objects.values_list("expert_id", flat=True))
    for profile in ExpertProfile.objects.all():
        assert per_expert.get(profile.pk, 0) <= profile.max_concurrent
        assert profile.current_load == per_expert.get(profile.pk, 0)
    balance = company_balance(organization=organization)
    assert balance.available_cents >= 0
    assert balance.held_cents == HOLD * Assignment.objects.count()
    assert balance.available_cents + balance.held_cents == funds_cents


def test_fifty_concurrent_accepts_fill_every_slot_exactly_once(organization):
    funds = 100 * HOLD
    _experts, requests, offers = _setup(organization, funds_cents=funds)
    wins, refusals = _fire(offers)
    assert len(wins) == 10  # 5 requests x 2 reviewers: every slot, once
    assert len(wins) + len(refusals) == 50
    assert set(refusals) <= ALLOWED_REFUSALS
    _check_invariants(organization, funds)
    for rr in requests:
        rr.refresh_from_db()
        assert rr.status == "in_review"
        assert rr.assignments.count() == 2
        assert not rr.offers.filter(status="open").exists()


def test_concurrent_accepts_never_overdraw_the_balance(organization):
    funds = 7 * HOLD + HOLD // 2  # room for seven holds, not eight
    _setup(organization, funds_cents=funds)
    offers = list(Offer.objects.select_related("expert").all())
    wins, refusals = _fire(offers)
    assert len(wins) == 7
    assert "insufficient_funds" in refusals
    assert set(refusals) <= ALLOWED_REFUSALS
    _check_invariants(organization, funds)
