"""The offers pipeline: matching_run (fan-out, funds, notifications), accept (first wins, hold in
the same transaction, caps), decline and expiry (replacements), cancel, release, deadline
expiry, suspension and supply changes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.selectors import company_balance
from billing.services import hold_amount_for
from marketplace.models import Notification
from review_requests import services
from review_requests.matching import matching_for_expert, matching_run, matching_sweep
from review_requests.models import Assignment, Offer, ReviewRequest
from review_requests.services import Refused, offer_accept, offer_decline
from tests.factories import CreditGrantFactory, FundingFactory, OfferFactory, ReviewRequestFactory
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db

HOLD_1H_100 = hold_amount_for(max_hours=Decimal("1"), rate_cents=10_000, fee_percent=Decimal(20))


@pytest.fixture
def funded(organization):
    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    return organization


def _refresh(*objs):
    for obj in objs:
        obj.refresh_from_db()


# matching_run ------------------------------------------------------------------------------


def test_matching_offers_each_open_slot_to_the_top_k(funded, settings):
    settings.OFFER_FANOUT = 2
    experts = [radiologist(rating_avg=5.0 - i * 0.5, rating_count=10) for i in range(4)]
    rr = ReviewRequestFactory(organization=funded, reviewers=1)
    assert matching_run(review_request=rr) == 2
    offered = set(Offer.objects.filter(review_request=rr).values_list("expert_id", flat=True))
    assert offered == {experts[0].pk, experts[1].pk}
    offer = Offer.objects.filter(review_request=rr).first()
    assert offer.reason
    assert offer.rate_cents == 10_000
    assert offer.expires_at > timezone.now() + timedelta(minutes=settings.OFFER_EXPIRY_MINUTES - 1)
    assert Notification.objects.filter(kind="offer").count() == 2
    # A second run adds nothing: every slot already has its K open offers.
    assert matching_run(review_request=rr) == 0


def test_matching_fans_out_per_reviewer_slot_and_never_offers_twice(funded, settings):
    settings.OFFER_FANOUT = 2
    for _ in range(6):
        radiologist()
    rr = ReviewRequestFactory(organization=funded, reviewers=2)
    assert matching_run(review_request=rr) == 4
    Offer.objects.filter(review_request=rr).update(status="declined")
    assert matching_run(review_request=rr) == 2
    assert Offer.objects.filter(review_request=rr).count() == 6


def test_no_offers_while_the_balance_cannot_cover_the_hold(organization):
    radiologist()
    rr = ReviewRequestFactory(organization=organization)
    CreditGrantFactory(organization=organization, amount_cents=HOLD_1H_100 - 1)
    assert matching_run(review_request=rr) == 0
    _refresh(rr)
    assert rr.waiting_for_funds is True
    assert Notification.objects.filter(kind="status", title__startswith="Add funds").exists()
    CreditGrantFactory(organization=organization, amount_cents=1)
    assert matching_sweep() == 1
    _refresh(rr)
    assert rr.waiting_for_funds is False


def test_a_request_waiting_for_funds_is_matched_as_soon_as_a_top_up_is_credited(
    settings, client, organization, django_capture_on_commit_callbacks
):
    """No waiting for the periodic sweep: the verified payment_intent.succeeded webhook sends
    billing's funds_added, and matching runs on commit."""
    from billing.webhooks import stripe_event_process
    from tests.billing.support import WEBHOOK_SECRET, event_payload, post_event

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    expert = radiologist()
    rr = ReviewRequestFactory(organization=organization)
    assert matching_run(review_request=rr) == 0
    _refresh(rr)
    assert rr.waiting_for_funds is True
    funding = FundingFactory(organization=organization, amount_cents=HOLD_1H_100)
    intent = {
        "id": "pi_waiting_for_funds",
        "object": "payment_intent",
        "amount": HOLD_1H_100,
        "amount_received": HOLD_1H_100,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"funding_id": str(funding.pk)},
    }
    event = event_payload("payment_intent.succeeded", intent)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event).status_code == 200
        stripe_event_process(event_id=event["id"])
    _refresh(rr)
    assert rr.waiting_for_funds is False
    assert Offer.objects.filter(review_request=rr, expert=expert, status="open").exists()


def test_credit_from_an_operator_also_matches_waiting_requests(
    organization, django_capture_on_commit_callbacks
):
    from billing.services import credit_grant

    expert = radiologist()
    rr = ReviewRequestFactory(organization=organization)
    matching_run(review_request=rr)
    with django_capture_on_commit_callbacks(execute=True):
        credit_grant(organization=organization, amount_cents=HOLD_1H_100, reason="pilot")
    assert Offer.objects.filter(review_request=rr, expert=expert, status="open").exists()


def test_no_offers_for_a_closed_request(funded):
    radiologist()
    rr = ReviewRequestFactory(organization=funded, status="cancelled")
    assert matching_run(review_request=rr) == 0


def test_creating_by_api_matches_on_commit(api_key, funded, django_capture_on_commit_callbacks):
    from tests.review_requests.api_offers_support import api_client, body, post_json

    expert = radiologist()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client(api_key), "/api/v1/review-requests", body(max_hours=1))
    assert response.status_code == 201
    offer = Offer.objects.get(review_request_id=response.json()["id"])
    assert offer.expert == expert


# accept --------------------------------------------------------------------------------------


def test_accept_creates_the_assignment_places_the_hold_and_starts_review(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded, callback_url="https://93.184.215.14/hook")
    offer = OfferFactory(review_request=rr, expert=profile)
    before = company_balance(organization=funded)
    assignment = offer_accept(offer_id=offer.pk, expert=profile.user)
    _refresh(rr, offer, profile)
    assert assignment.review_request == rr
    assert assignment.rate_cents == 10_000
    assert assignment.max_seconds == 3600
    assert assignment.hold_ref == f"assignment:{assignment.pk}"
    assert offer.status == "accepted"
    assert rr.status == "in_review"
    assert profile.current_load == 1
    after = company_balance(organization=funded)
    assert after.available_cents == before.available_cents - HOLD_1H_100
    assert after.held_cents == before.held_cents + HOLD_1H_100
    assert rr.webhook_events.get().type == "review_request.in_review"
    assert assignment.history.get().to_status == "accepted"


def test_second_accept_gets_offer_taken(funded):
    first, second = radiologist(), radiologist()
    rr = ReviewRequestFactory(organization=funded, reviewers=1)
    offer_a, offer_b = (
        OfferFactory(review_request=rr, expert=first),
        OfferFactory(review_request=rr, expert=second),
    )
    offer_accept(offer_id=offer_a.pk, expert=first.user)
    _refresh(offer_b)
    assert offer_b.status == "taken"  # the last slot filled closes the other offers
    with pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer_b.pk, expert=second.user)
    assert (exc.value.status, exc.value.code) == (409, "offer_taken")
    assert Assignment.objects.filter(review_request=rr).count() == 1


def test_accepting_twice_returns_the_same_assignment(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    offer = OfferFactory(review_request=rr, expert=profile)
    first = offer_accept(offer_id=offer.pk, expert=profile.user)
    again = offer_accept(offer_id=offer.pk, expert=profile)
    assert first.pk == again.pk
    assert company_balance(organization=funded).held_cents == HOLD_1H_100


def test_expired_offer_is_410_and_marked(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    offer = OfferFactory(review_request=rr, expert=profile, minutes=-1)
    with pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer.pk, expert=profile.user)
    assert (exc.value.status, exc.value.code) == (410, "offer_expired")
    _refresh(offer)
    assert offer.status == "expired"
    assert not Assignment.objects.exists()


def test_expert_at_their_cap_is_refused(funded):
    profile = radiologist(max_concurrent=1)
    busy = ReviewRequestFactory(organization=funded)
    offer_accept(offer_id=OfferFactory(review_request=busy, expert=profile).pk, expert=profile.user)
    rr = ReviewRequestFactory(organization=funded)
    offer = OfferFactory(review_request=rr, expert=profile)
    with pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer.pk, expert=profile.user)
    assert exc.value.code == "at_capacity"
    _refresh(offer, profile)
    assert offer.status == "open"
    assert profile.current_load == 1


def test_insufficient_funds_refuses_and_changes_nothing_but_the_flag(organization):
    CreditGrantFactory(organization=organization, amount_cents=HOLD_1H_100 - 1)
    profile = radiologist()
    rr = ReviewRequestFactory(organization=organization)
    offer = OfferFactory(review_request=rr, expert=profile)
    with pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer.pk, expert=profile.user)
    assert (exc.value.status, exc.value.code) == (409, "insufficient_funds")
    _refresh(rr, offer, profile)
    assert rr.waiting_for_funds is True
    assert rr.status == "queued"
    assert offer.status == "open"
    assert profile.current_load == 0
    assert not Assignment.objects.exists()
    assert company_balance(organization=organization).available_cents == HOLD_1H_100 - 1


def test_someone_elses_offer_is_not_found(funded):
    owner, intruder = radiologist(), radiologist()
    offer = OfferFactory(review_request=ReviewRequestFactory(organization=funded), expert=owner)
    with pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer.pk, expert=intruder.user)
    assert exc.value.status == 404


def test_offer_on_a_cancelled_request_is_refused(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    offer = OfferFactory(review_request=rr, expert=profile)
    services.request_cancel(review_request=rr)
    with pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer.pk, expert=profile.user)
    assert exc.value.status == 409


def test_two_reviewers_need_two_accepts(funded):
    a, b, c = radiologist(), radiologist(), radiologist()
    rr = ReviewRequestFactory(organization=funded, reviewers=2)
    offers = [OfferFactory(review_request=rr, expert=p) for p in (a, b, c)]
    offer_accept(offer_id=offers[0].pk, expert=a.user)
    offer_accept(offer_id=offers[1].pk, expert=b.user)
    _refresh(offers[2], rr)
    assert offers[2].status == "taken"
    assert rr.status == "in_review"
    assert company_balance(organization=funded).held_cents == 2 * HOLD_1H_100


# decline and expiry --------------------------------------------------------------------------


def test_decline_sends_a_replacement_offer(funded, settings, django_capture_on_commit_callbacks):
    settings.OFFER_FANOUT = 1
    first, second = radiologist(rating_avg=5, rating_count=3), radiologist()
    rr = ReviewRequestFactory(organization=funded)
    matching_run(review_request=rr)
    offer = Offer.objects.get(review_request=rr)
    assert offer.expert == first
    with django_capture_on_commit_callbacks(execute=True):
        offer_decline(offer_id=offer.pk, expert=first.user)
    _refresh(offer)
    assert offer.status == "declined"
    replacement = Offer.objects.get(review_request=rr, status="open")
    assert replacement.expert == second


def test_declining_twice_is_harmless_and_declining_an_accepted_offer_is_refused(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    offer = OfferFactory(review_request=rr, expert=profile)
    offer_decline(offer_id=offer.pk, expert=profile.user)
    offer_decline(offer_id=offer.pk, expert=profile.user)
    _refresh(offer)
    assert offer.status == "declined"
    other = OfferFactory(review_request=ReviewRequestFactory(organization=funded), expert=profile)
    offer_accept(offer_id=other.pk, expert=profile.user)
    with pytest.raises(Refused) as exc:
        offer_decline(offer_id=other.pk, expert=profile.user)
    assert exc.value.code == "offer_accepted"


def test_due_offers_expire_and_are_replaced(funded, settings):
    settings.OFFER_FANOUT = 1
    first, second = radiologist(rating_avg=5, rating_count=3), radiologist()
    rr = ReviewRequestFactory(organization=funded)
    matching_run(review_request=rr)
    Offer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.offers_expire_due() == 1
    assert Offer.objects.get(expert=first).status == "expired"
    assert Offer.objects.get(expert=second).status == "open"


def test_requests_past_their_deadline_expire_and_release_holds(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded, deadline=timezone.now() + timedelta(hours=1))
    offer = OfferFactory(review_request=rr, expert=profile)
    assignment = offer_accept(offer_id=offer.pk, expert=profile.user)
    open_offer = OfferFactory(review_request=rr, expert=radiologist())
    ReviewRequest.objects.filter(pk=rr.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert services.requests_expire_due() == 1
    _refresh(rr, assignment, profile, open_offer)
    assert rr.status == "expired"
    assert assignment.status == "released"
    assert open_offer.status == "withdrawn"
    assert profile.current_load == 0
    balance = company_balance(organization=funded)
    assert (balance.available_cents, balance.held_cents) == (1_000_000, 0)
    assert services.requests_expire_due() == 0


# cancel and release --------------------------------------------------------------------------


def test_cancel_releases_holds_assignments_and_offers(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded, reviewers=2)
    assignment = offer_accept(
        offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user
    )
    waiting = OfferFactory(review_request=rr, expert=radiologist())
    services.request_cancel(review_request=rr)
    _refresh(rr, assignment, waiting, profile)
    assert rr.status == "cancelled"
    assert assignment.status == "released"
    assert waiting.status == "withdrawn"
    assert profile.current_load == 0
    assert company_balance(organization=funded).held_cents == 0


def test_cancel_is_refused_once_time_was_billed(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    assignment = offer_accept(
        offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user
    )
    Assignment.objects.filter(pk=assignment.pk).update(billed_seconds=60)
    with pytest.raises(Refused) as exc:
        services.request_cancel(review_request=rr)
    assert exc.value.code == "already_billed"
    _refresh(rr)
    assert rr.status == "in_review"
    assert company_balance(organization=funded).held_cents == HOLD_1H_100


def test_release_gives_the_hold_back_requeues_and_closes_the_workspace(
    funded, django_capture_on_commit_callbacks
):
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async
    from channels.layers import get_channel_layer

    from marketplace.realtime import workspace_group

    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    assignment = offer_accept(
        offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user
    )
    layer = get_channel_layer()

    def release():
        with django_capture_on_commit_callbacks(execute=True):
            services.assignment_release(
                assignment=assignment, actor=None, reason="operator reassigned"
            )

    async def listen_while_released():
        # One event loop for the listening channel: a pub/sub layer's channel lives in the loop
        # that made it, and hears only what is published while it is subscribed.
        channel = await layer.new_channel()
        await layer.group_add(workspace_group(assignment.pk), channel)
        await sync_to_async(release)()
        return await asyncio.wait_for(layer.receive(channel), timeout=10)

    message = async_to_sync(listen_while_released)()
    _refresh(rr, assignment, profile)
    assert assignment.status == "released"
    assert rr.status == "queued"
    assert profile.current_load == 0
    assert company_balance(organization=funded).held_cents == 0
    assert message == {"type": "force.close", "code": 4403, "reason": "released"}
    assert Notification.objects.filter(user=profile.user, title__startswith="Assignment released")
    with pytest.raises(Refused):
        services.assignment_release(assignment=assignment, reason="again")


# suspension and supply -----------------------------------------------------------------------


def test_suspending_an_expert_withdraws_offers_and_releases_unstarted_work(funded, operator):
    from marketplace.services import user_suspend

    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    assignment = offer_accept(
        offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user
    )
    other_offer = OfferFactory(
        review_request=ReviewRequestFactory(organization=funded), expert=profile
    )
    user_suspend(user=profile.user, actor=operator, reason="fraud")
    _refresh(assignment, other_offer, rr)
    assert other_offer.status == "withdrawn"
    assert assignment.status == "released"
    assert rr.status == "queued"
    assert company_balance(organization=funded).held_cents == 0


def test_supply_change_rematches_queued_requests_of_that_field(
    funded, django_capture_on_commit_callbacks
):
    from experts.signals import expert_supply_changed

    rr = ReviewRequestFactory(organization=funded)
    assert matching_run(review_request=rr) == 0  # nobody yet
    profile = radiologist()
    with django_capture_on_commit_callbacks(execute=True):
        expert_supply_changed.send(sender=None, expert_id=profile.pk)
    assert Offer.objects.get(review_request=rr).expert == profile
    # A request for the parent field matches the radiologist too; others do not.
    parent = ReviewRequestFactory(organization=funded, specialization=rr.specialization.parent)
    law = ReviewRequestFactory(
        organization=funded,
        specialization=type(rr.specialization).objects.get(slug="law"),
    )
    assert matching_for_expert(expert_id=profile.pk) == 1
    assert Offer.objects.filter(review_request=parent).exists()
    assert not Offer.objects.filter(review_request=law).exists()
