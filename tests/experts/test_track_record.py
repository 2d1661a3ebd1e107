"""The track record on expert profiles, kept from real events: response time (offers accepted,
declined or left to expire), completion (submitted vs given back or past the deadline) and
on-time rate (submitted before the deadline); matching reads the rates at once."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from experts import services as expert_services
from experts.models import ExpertProfile, MatchRow
from experts.selectors import candidates_rank
from review_requests import services
from review_requests import workspace as ws
from review_requests.models import Offer, ReviewRequest
from review_requests.services import Refused, offer_accept, offer_decline
from tests.conftest import login_client
from tests.factories import (
    CreditGrantFactory,
    ExpertProfileFactory,
    OfferFactory,
    ReviewRequestFactory,
)
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(organization):
    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    return organization


def _offered_ago(rr, profile, seconds: int, **fields) -> Offer:
    return OfferFactory(
        review_request=rr,
        expert=profile,
        created_at=timezone.now() - timedelta(seconds=seconds),
        **fields,
    )


def _record(profile) -> ExpertProfile:
    return ExpertProfile.objects.get(pk=profile.pk)


def _accept_and_submit(rr, profile, *, now=None):
    assignment = offer_accept(
        offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user
    )
    ws.draft_update(assignment_id=assignment.pk, user=profile.user, changes={"verdict": "approved"})
    ws.assignment_submit(assignment=assignment, user=profile.user, now=now)
    return assignment


# Response time ---------------------------------------------------------------------------------


def test_a_new_expert_has_no_response_time(funded):
    profile = radiologist()
    assert _record(profile).avg_response_seconds is None
    assert _record(profile).response_count == 0


def test_accepting_and_declining_record_how_long_the_expert_took(
    funded, django_capture_on_commit_callbacks
):
    profile = radiologist()
    with django_capture_on_commit_callbacks(execute=True):
        offer_accept(
            offer_id=_offered_ago(ReviewRequestFactory(organization=funded), profile, 120).pk,
            expert=profile.user,
        )
    record = _record(profile)
    assert record.response_count == 1
    assert record.avg_response_seconds == pytest.approx(120, abs=2)

    with django_capture_on_commit_callbacks(execute=True):
        offer_decline(
            offer_id=_offered_ago(ReviewRequestFactory(organization=funded), profile, 60).pk,
            expert=profile,
        )
    record = _record(profile)
    assert record.response_count == 2
    assert record.avg_response_seconds == pytest.approx(90, abs=2)
    assert record.response_seconds_total == pytest.approx(180, abs=3)


def test_declining_twice_counts_once(funded, django_capture_on_commit_callbacks):
    profile = radiologist()
    offer = _offered_ago(ReviewRequestFactory(organization=funded), profile, 30)
    with django_capture_on_commit_callbacks(execute=True):
        offer_decline(offer_id=offer.pk, expert=profile)
        offer_decline(offer_id=offer.pk, expert=profile)
    assert _record(profile).response_count == 1


def test_expired_offers_count_their_whole_lifetime_once(
    funded, settings, django_capture_on_commit_callbacks
):
    settings.OFFER_FANOUT = 1
    slow, late = radiologist(), radiologist()
    now = timezone.now()
    lifetime = {"created_at": now - timedelta(minutes=16), "expires_at": now - timedelta(minutes=1)}
    OfferFactory(review_request=ReviewRequestFactory(organization=funded), expert=slow, **lifetime)
    OfferFactory(review_request=ReviewRequestFactory(organization=funded), expert=slow, **lifetime)
    tried_late = OfferFactory(
        review_request=ReviewRequestFactory(organization=funded), expert=late, **lifetime
    )

    # An accept after the expiry finds it expired, and counts it.
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Refused) as exc:
        offer_accept(offer_id=tried_late.pk, expert=late.user)
    assert exc.value.code == "offer_expired"
    # The sweep expires the rest (both of `slow`'s in one update), and not that one again.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.offers_expire_due() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert services.offers_expire_due() == 0

    assert (_record(slow).response_count, _record(slow).avg_response_seconds) == (2, 900)
    assert (_record(late).response_count, _record(late).avg_response_seconds) == (1, 900)


def test_offers_taken_by_someone_else_do_not_count(funded, django_capture_on_commit_callbacks):
    winner, loser = radiologist(), radiologist()
    rr = ReviewRequestFactory(organization=funded)
    first, second = (
        OfferFactory(review_request=rr, expert=winner),
        OfferFactory(review_request=rr, expert=loser),
    )
    with django_capture_on_commit_callbacks(execute=True):
        offer_accept(offer_id=first.pk, expert=winner.user)
        with pytest.raises(Refused):
            offer_accept(offer_id=second.pk, expert=loser.user)
    assert _record(loser).response_count == 0


def test_response_times_cost_one_update_per_expert(django_assert_num_queries):
    first, second = ExpertProfileFactory(), ExpertProfileFactory()
    with django_assert_num_queries(4):
        # SAVEPOINT, UPDATE first, UPDATE second, RELEASE SAVEPOINT
        expert_services.expert_stats_record_responses(
            responses=[(first.pk, 10), (second.pk, 20), (first.pk, 31)]
        )
    assert (_record(first).response_count, _record(first).avg_response_seconds) == (2, 21)
    assert (_record(second).response_count, _record(second).avg_response_seconds) == (1, 20)


# Completion and on-time -------------------------------------------------------------------------


def test_submissions_before_and_after_the_deadline(funded):
    profile = radiologist()
    deadline = timezone.now() + timedelta(hours=2)
    _accept_and_submit(ReviewRequestFactory(organization=funded, deadline=deadline), profile)
    _accept_and_submit(
        ReviewRequestFactory(organization=funded, deadline=deadline),
        profile,
        now=deadline + timedelta(minutes=1),
    )
    _accept_and_submit(ReviewRequestFactory(organization=funded), profile)  # no deadline: on time
    record = _record(profile)
    assert (record.completed_count, record.on_time_count, record.dropped_count) == (3, 2, 0)
    assert record.on_time_rate == pytest.approx(2 / 3)
    assert record.completion_rate == 1.0
    assert list(
        MatchRow.objects.filter(expert_id=profile.pk).values_list("on_time_rate", flat=True)
    ) == pytest.approx([2 / 3] * 2)  # medicine.radiology and medicine


def test_giving_work_back_and_missing_the_deadline_lower_completion(funded):
    profile = radiologist(max_concurrent=5)
    _accept_and_submit(ReviewRequestFactory(organization=funded), profile)
    given_back = offer_accept(
        offer_id=OfferFactory(
            review_request=ReviewRequestFactory(organization=funded), expert=profile
        ).pk,
        expert=profile.user,
    )
    services.assignment_release(assignment=given_back, actor=profile.user, reason="no time")
    rr = ReviewRequestFactory(organization=funded, deadline=timezone.now() + timedelta(hours=1))
    offer_accept(offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user)
    ReviewRequest.objects.filter(pk=rr.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert services.requests_expire_due() == 1

    record = _record(profile)
    assert (record.completed_count, record.dropped_count) == (1, 2)
    assert record.completion_rate == pytest.approx(1 / 3)
    assert list(
        MatchRow.objects.filter(expert_id=profile.pk).values_list("completion_rate", flat=True)
    ) == pytest.approx([1 / 3] * 2)


def test_a_company_cancelling_does_not_count_against_the_expert(funded):
    profile = radiologist()
    rr = ReviewRequestFactory(organization=funded)
    offer_accept(offer_id=OfferFactory(review_request=rr, expert=profile).pk, expert=profile.user)
    services.request_cancel(review_request=rr)
    record = _record(profile)
    assert (record.dropped_count, record.completion_rate) == (0, 1.0)


def test_matching_ranks_a_reliable_expert_first(funded):
    reliable, flaky = radiologist(), radiologist()
    _accept_and_submit(ReviewRequestFactory(organization=funded), reliable)
    _accept_and_submit(ReviewRequestFactory(organization=funded), flaky)
    dropped = offer_accept(
        offer_id=OfferFactory(
            review_request=ReviewRequestFactory(organization=funded), expert=flaky
        ).pk,
        expert=flaky.user,
    )
    services.assignment_release(assignment=dropped, actor=flaky.user, reason="busy")
    ranked = candidates_rank(
        specialization_slug="medicine.radiology",
        max_rate_cents=None,
        organization_id=None,
        exclude_expert_ids=[],
        now=timezone.now(),
        deadline=None,
        limit=5,
    )
    assert [c.expert_id for c in ranked] == [reliable.pk, flaky.pk]


def test_the_public_profile_shows_the_track_record(company_member):
    profile = radiologist(
        display_name="Dr. Quick",
        completed_count=9,
        on_time_count=8,
        dropped_count=1,
        completion_rate=0.9,
        on_time_rate=8 / 9,
        avg_response_seconds=150,
        response_count=4,
    )
    response = login_client(company_member).get(f"/company/experts/{profile.pk}/")
    text = response.content.decode()
    assert "2 min 30 s" in text
    assert "90%" in text  # completion
    assert "89%" in text  # on time


# Profiles written before the counters existed -----------------------------------------------------


def test_the_migration_derives_counters_from_the_old_rates():
    profile = ExpertProfileFactory(completed_count=20, on_time_rate=0.85, completion_rate=0.8)
    unrated = ExpertProfileFactory(completed_count=0)
    migration = importlib.import_module("experts.migrations.0007_track_record_counters")
    migration.counters_from_rates(apps, None)
    record = _record(profile)
    assert (record.on_time_count, record.dropped_count) == (17, 5)
    assert (_record(unrated).on_time_count, _record(unrated).dropped_count) == (0, 0)


def test_the_expert_sees_their_own_track_record(expert):
    ExpertProfileFactory(
        user=expert,
        completed_count=4,
        on_time_count=3,
        dropped_count=1,
        completion_rate=0.8,
        on_time_rate=0.75,
        avg_response_seconds=61,
        response_count=5,
    )
    text = login_client(expert).get("/expert/profile/").content.decode()
    assert "Your track record" in text
    assert "80%" in text and "75%" in text and "1 min 01 s" in text
    assert "1 given back or late" in text
