"""Golden items at work (issue #20): an expert takes a paid qualification test through the
ordinary offer, workspace and submit; golden items mixed into live work; the money: the platform
pays from its `platform_quality` account, the company is never charged, nothing is paid twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing import ledger
from billing.models import Earning, Hold, LedgerAccount, LedgerTransaction, PlatformHoldGrant
from billing.selectors import company_balance
from billing.services import expert_cents_for, hold_capture, platform_hold_grant_create
from experts.models import GoldenItem, QualificationAttempt, SpecializationStanding
from marketplace.services import PLATFORM_ORGANIZATION_SLUG
from review_requests import golden
from review_requests import workspace as ws
from review_requests.matching import matching_run
from review_requests.models import Assignment, GoldenRun, Offer, ReviewRequest
from review_requests.services import (
    Refused,
    hold_scope,
    offer_accept,
    offer_decline,
    offers_expire_due,
)
from tests.conftest import login_client, run_at_once
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    GoldenItemFactory,
    QualificationTestFactory,
    ReviewRequestFactory,
)
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db

RIGHT = {"verdict": "approved", "scores": {"accuracy": 4}}
WRONG = {"verdict": "rejected", "scores": {"accuracy": 1}}


def work_and_submit(assignment: Assignment, user, answer: dict, *, seconds: int = 60):
    """Heartbeats for `seconds` (server-measured time), the answer in the draft, submit."""
    start = timezone.now()
    for offset in range(0, seconds + 1, 30):
        ws.workspace_heartbeat(
            assignment_id=assignment.pk,
            user=user,
            socket="tab-1",
            now=start + timedelta(seconds=offset),
        )
    ws.draft_update(assignment_id=assignment.pk, user=user, changes=answer)
    return ws.assignment_submit(
        assignment=assignment, user=user, now=start + timedelta(seconds=seconds)
    )


@pytest.fixture
def test_of_two():
    return QualificationTestFactory(
        items=[GoldenItemFactory(), GoldenItemFactory()], pass_threshold=1.0
    )


def _platform_quality_cents() -> int:
    return ledger.balance(LedgerAccount.Kind.PLATFORM_QUALITY)


def test_an_expert_takes_and_passes_a_paid_qualification(
    expert, organization, test_of_two, django_capture_on_commit_callbacks
):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    company_before = company_balance(organization=organization)
    profile = radiologist(user=expert, max_concurrent=2)
    # Before: unqualified, so a request in radiology does not reach them.
    live = ReviewRequestFactory(organization=organization)
    assert matching_run(review_request=live) == 0

    offers = golden.qualifications_for_expert(expert=profile)
    assert len(offers) == 1
    shown = offers[0]
    assert (shown.items, shown.cap_seconds, shown.rate_cents) == (2, 3600, 10_000)
    assert shown.max_pay_cents == 10_000  # two half hours at $100/h

    with django_capture_on_commit_callbacks(execute=True):
        attempt = golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    assignments = list(Assignment.objects.filter(expert=profile).order_by("accepted_at"))
    assert len(assignments) == 2
    for a in assignments:
        rr = a.review_request
        assert rr.is_golden and rr.organization.slug == PLATFORM_ORGANIZATION_SLUG
        hold = Hold.objects.get(ref=a.hold_ref)
        assert hold.payer == "platform"
        assert hold.platform_grant.purpose == PlatformHoldGrant.Purpose.QUALITY

    for a in assignments:
        with django_capture_on_commit_callbacks(execute=True):
            work_and_submit(a, expert, RIGHT, seconds=60)

    attempt.refresh_from_db()
    assert attempt.status == QualificationAttempt.Status.PASSED
    assert (attempt.items_scored, attempt.items_correct) == (2, 2)
    standing = SpecializationStanding.objects.get(expert=profile)
    assert standing.qualified_at is not None and standing.suspended_at is None

    # Paid by the platform at the expert's rate for the measured time, no fee; company untouched.
    earnings = list(Earning.objects.filter(user=expert))
    assert len(earnings) == 2
    paid = expert_cents_for(billed_seconds=60, rate_cents=10_000)
    assert all(e.payer == "platform" and e.amount_cents == paid for e in earnings)
    assert all(e.fee_cents == 0 and e.company_cost_cents == 0 for e in earnings)
    assert _platform_quality_cents() == -2 * paid
    assert LedgerAccount.objects.get(kind="expert_pending", user=expert).balance_cents == 2 * paid
    assert company_balance(organization=organization) == company_before
    assert not LedgerTransaction.objects.filter(organization=organization, reason="hold").exists()

    # Now qualified: the live request reaches them (freed capacity re-matched it already).
    matching_run(review_request=live)
    assert Offer.objects.filter(review_request=live, expert=profile).exists()


def test_a_failed_qualification_does_not_qualify(expert, test_of_two):
    profile = radiologist(user=expert, max_concurrent=2)
    attempt = golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    first, second = Assignment.objects.filter(expert=profile).order_by("accepted_at")
    work_and_submit(first, expert, RIGHT)
    work_and_submit(second, expert, WRONG)
    attempt.refresh_from_db()
    assert attempt.status == QualificationAttempt.Status.FAILED
    assert not SpecializationStanding.objects.filter(
        expert=profile, qualified_at__isnull=False
    ).exists()
    # They may take it again; the unfinished state is gone.
    again = golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    assert again.status == QualificationAttempt.Status.STARTED


def test_beyond_the_concurrency_cap_qualification_items_wait_among_the_offers(expert):
    test = QualificationTestFactory(items=[GoldenItemFactory() for _ in range(3)])
    profile = radiologist(user=expert, max_concurrent=2)
    golden.qualification_start(expert=profile, test_id=test.pk)
    assert Assignment.objects.filter(expert=profile).count() == 2
    waiting = Offer.objects.get(expert=profile, status=Offer.Status.OPEN)
    assert waiting.expires_at > timezone.now() + timedelta(days=6)


def test_qualification_refusals(expert, test_of_two):
    profile = radiologist(user=expert, hourly_rate_cents=None)
    with pytest.raises(Refused) as exc:
        golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    assert exc.value.code == "no_rate"
    other = radiologist(specializations=["software"])
    with pytest.raises(Refused) as exc:
        golden.qualification_start(expert=other, test_id=test_of_two.pk)
    assert exc.value.code == "not_found"
    assert not ReviewRequest.objects.filter(is_golden=True).exists()


def test_a_golden_review_is_never_paid_twice(expert, test_of_two):
    profile = radiologist(user=expert, max_concurrent=2)
    golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    assignment = Assignment.objects.filter(expert=profile).first()
    work_and_submit(assignment, expert, RIGHT)
    paid_before = _platform_quality_cents()
    # Submitting again, capturing the hold again, or granting the same request again: refused.
    with pytest.raises(ws.WorkspaceError):
        ws.assignment_submit(assignment=assignment, user=expert)
    with pytest.raises(ledger.DuplicatePosting):
        hold_capture(
            ref=assignment.hold_ref,
            expert_user=expert,
            assignment_id=assignment.pk,
            billed_seconds=60,
            rate_cents=10_000,
        )
    with pytest.raises(ledger.DuplicatePosting):
        platform_hold_grant_create(
            organization=assignment.review_request.organization,
            scope=hold_scope(review_request_id=assignment.review_request_id),
            source_ref=f"golden:{assignment.review_request_id}",
            reason="again",
            purpose=PlatformHoldGrant.Purpose.QUALITY,
        )
    assert _platform_quality_cents() == paid_before
    assert Earning.objects.filter(assignment_id=assignment.pk).count() == 1
    assert LedgerTransaction.objects.filter(ref=f"{assignment.hold_ref}:capture").count() == 1


def test_golden_items_in_live_work_look_like_offers_and_measure_accuracy(
    expert, organization, settings
):
    settings.GOLDEN_MIN_SAMPLE = 1
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    profile = radiologist(user=expert)
    item = GoldenItemFactory()
    QualificationTestFactory(items=[], live_rate=1.0)  # live golden items, no qualification
    live = AssignmentFactory(review_request__organization=organization, expert=profile)
    work_and_submit(live, expert, RIGHT)

    run = GoldenRun.objects.get(expert=profile)
    assert run.item == item and run.attempt is None and run.for_organization == organization
    offer = Offer.objects.get(review_request=run.review_request)
    assert offer.status == Offer.Status.OPEN and offer.rate_cents == 10_000
    # Never matched to anyone else.
    radiologist()
    assert matching_run(review_request=run.review_request) == 0
    assert Offer.objects.filter(review_request=run.review_request).count() == 1

    company_before = company_balance(organization=organization)
    assignment = offer_accept(offer_id=offer.pk, expert=profile)
    work_and_submit(assignment, expert, WRONG)
    assert company_balance(organization=organization) == company_before
    standing = SpecializationStanding.objects.get(expert=profile)
    assert (standing.golden_correct, standing.golden_total) == (0, 1)
    assert standing.suspended_at is not None  # 0 % over 1 item, the sample set to 1
    # The golden review brought no further golden offer; each item reaches an expert once.
    assert GoldenRun.objects.filter(expert=profile).count() == 1


def test_no_live_golden_item_at_rate_zero(expert, organization):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    profile = radiologist(user=expert)
    GoldenItemFactory()
    QualificationTestFactory(items=[], live_rate=0.0)
    work_and_submit(
        AssignmentFactory(review_request__organization=organization, expert=profile),
        expert,
        RIGHT,
    )
    assert not GoldenRun.objects.exists()


def test_a_companys_own_items_go_only_to_work_on_its_requests(
    expert, organization, other_organization
):
    CreditGrantFactory(organization=other_organization, amount_cents=100_000)
    profile = radiologist(user=expert)
    GoldenItemFactory(organization=organization)
    QualificationTestFactory(items=[], live_rate=1.0)
    work_and_submit(
        AssignmentFactory(review_request__organization=other_organization, expert=profile),
        expert,
        RIGHT,
    )
    assert not GoldenRun.objects.exists()


def test_requalifying_lifts_the_suspension(expert, test_of_two):
    profile = radiologist(user=expert, max_concurrent=2)
    SpecializationStanding.objects.create(
        expert=profile,
        specialization=test_of_two.specialization,
        qualified_at=timezone.now() - timedelta(days=30),
        golden_correct=1,
        golden_total=10,
        suspended_at=timezone.now(),
        suspended_reason="below the floor",
    )
    golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    for a in Assignment.objects.filter(expert=profile):
        work_and_submit(a, expert, RIGHT)
    standing = SpecializationStanding.objects.get(expert=profile)
    assert standing.suspended_at is None and standing.suspended_reason == ""
    assert (standing.golden_correct, standing.golden_total) == (0, 0)
    with pytest.raises(Refused) as exc:
        golden.qualification_start(expert=profile, test_id=test_of_two.pk)
    assert exc.value.code == "already_qualified"


# A company's completed review as a golden item ---------------------------------------------


def test_a_company_marks_a_completed_review_as_a_golden_item(organization, company_member):
    rr = ReviewRequestFactory(
        organization=organization,
        status="completed",
        result={"verdict": "rejected", "scores": {"accuracy": 2}},
    )
    client = login_client(company_member)
    response = client.post(f"/company/requests/{rr.pk}/golden/", {"tolerance": "1"})
    assert response.status_code == 302
    item = GoldenItem.objects.get(source_review_request_id=rr.pk)
    assert (item.organization, item.expected_verdict, item.expected_scores, item.tolerance) == (
        organization,
        "rejected",
        {"accuracy": 2},
        1.0,
    )
    with pytest.raises(ValidationError):
        golden.golden_item_from_request(review_request=rr, actor=company_member)


def test_only_a_completed_review_of_ones_own_becomes_golden(
    organization, company_member, other_company_member
):
    queued = ReviewRequestFactory(organization=organization)
    with pytest.raises(ValidationError):
        golden.golden_item_from_request(review_request=queued, actor=company_member)
    done = ReviewRequestFactory(
        organization=organization, status="completed", result={"verdict": "approved"}
    )
    response = login_client(other_company_member).post(f"/company/requests/{done.pk}/golden/")
    assert response.status_code == 404
    assert not GoldenItem.objects.exists()


# A live golden offer that lapses goes to one other eligible expert ---------------------------


def _live_golden_offer(expert_user, organization, **item_fields) -> Offer:
    """A golden item mixed into this expert's live work for `organization` (as
    golden_live_maybe puts it), its offer open."""
    profile = radiologist(user=expert_user)
    item = GoldenItemFactory(**item_fields)
    return golden.golden_request_put(item=item, expert=profile, for_organization=organization)


def _lapse(offer: Offer) -> None:
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def _company_books(organization) -> tuple:
    """The company's balance and its ledger transactions so far."""
    return (
        company_balance(organization=organization),
        LedgerTransaction.objects.filter(organization=organization).count(),
    )


def _untouched(organization, before: tuple) -> bool:
    return _company_books(organization) == before


def test_an_expired_golden_offer_goes_to_another_expert_once_and_never_twice(
    expert, other_expert, organization
):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    company_before = _company_books(organization)
    quality_before = _platform_quality_cents()
    offer = _live_golden_offer(expert, organization)
    rr = offer.review_request
    second = radiologist(user=other_expert, hourly_rate_cents=12_000)
    _lapse(offer)

    assert offers_expire_due() == 1
    offers = Offer.objects.filter(review_request=rr)
    assert {(o.expert_id, o.status) for o in offers} == {
        (offer.expert_id, Offer.Status.EXPIRED),
        (second.pk, Offer.Status.OPEN),
    }
    new = offers.get(expert=second)
    assert new.rate_cents == 12_000 and new.expires_at > timezone.now()
    assert GoldenRun.objects.get(review_request=rr).expert_id == second.pk
    # The sweep again, matching again (a replayed task): nothing more is offered.
    assert offers_expire_due() == 0
    assert matching_run(review_request=rr) == 0
    assert offers.count() == 2
    # Nothing was billed: one grant, still waiting for an accept; the company untouched.
    grant = PlatformHoldGrant.objects.get(scope=hold_scope(review_request_id=rr.pk))
    assert grant.status == PlatformHoldGrant.Status.OPEN
    assert _platform_quality_cents() == quality_before
    assert _untouched(organization, company_before)
    assert ReviewRequest.objects.get(pk=rr.pk).status == ReviewRequest.Status.QUEUED


def test_the_second_expert_is_measured_and_paid_by_the_platform_once(
    expert, other_expert, organization
):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    company_before = _company_books(organization)
    offer = _live_golden_offer(expert, organization)
    second = radiologist(user=other_expert)
    _lapse(offer)
    offers_expire_due()
    new = Offer.objects.get(review_request=offer.review_request, expert=second)

    assignment = offer_accept(offer_id=new.pk, expert=second)
    work_and_submit(assignment, other_expert, RIGHT)
    standing = SpecializationStanding.objects.get(expert=second)
    assert (standing.golden_correct, standing.golden_total) == (1, 1)
    assert not SpecializationStanding.objects.filter(expert_id=offer.expert_id).exists()
    [earning] = Earning.objects.filter(user=other_expert)
    assert earning.payer == "platform" and earning.fee_cents == 0
    assert _platform_quality_cents() == -earning.amount_cents
    assert _untouched(organization, company_before)
    # Submitted: nothing lapses any more, so nothing is offered again.
    assert matching_run(review_request=offer.review_request) == 0
    assert Offer.objects.filter(review_request=offer.review_request).count() == 2


def test_a_declined_golden_offer_goes_to_another_expert_once(
    expert, other_expert, organization, django_capture_on_commit_callbacks
):
    offer = _live_golden_offer(expert, organization)
    second = radiologist(user=other_expert)
    first = offer.expert
    with django_capture_on_commit_callbacks(execute=True):
        offer_decline(offer_id=offer.pk, expert=first)
    with django_capture_on_commit_callbacks(execute=True):
        offer_decline(offer_id=offer.pk, expert=first)  # a double click: nothing more
    offers = Offer.objects.filter(review_request=offer.review_request)
    assert {(o.expert_id, o.status) for o in offers} == {
        (first.pk, Offer.Status.DECLINED),
        (second.pk, Offer.Status.OPEN),
    }


def test_an_expired_golden_offer_found_at_accept_goes_on_too(
    expert, other_expert, organization, django_capture_on_commit_callbacks
):
    offer = _live_golden_offer(expert, organization)
    second = radiologist(user=other_expert)
    _lapse(offer)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Refused) as exc:
        offer_accept(offer_id=offer.pk, expert=offer.expert)
    assert exc.value.code == "offer_expired"
    assert Offer.objects.get(review_request=offer.review_request, expert=second).status == "open"


def test_with_nobody_eligible_the_golden_item_is_withdrawn_unpaid(expert, organization):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    company_before = _company_books(organization)
    offer = _live_golden_offer(expert, organization)
    radiologist(specializations=["software"])  # not eligible: another specialization
    _lapse(offer)
    offers_expire_due()
    rr = ReviewRequest.objects.get(pk=offer.review_request_id)
    assert rr.status == ReviewRequest.Status.CANCELLED
    assert Offer.objects.filter(review_request=rr).count() == 1
    assert not Hold.objects.filter(platform_grant__scope=hold_scope(review_request_id=rr.pk))
    assert _platform_quality_cents() == 0
    assert _untouched(organization, company_before)
    assert matching_run(review_request=rr) == 0  # closed: nothing more


def test_a_golden_item_is_offered_at_most_the_configured_times(
    expert, other_expert, organization, settings
):
    settings.GOLDEN_LIVE_OFFERS_MAX = 2
    offer = _live_golden_offer(expert, organization)
    second = radiologist(user=other_expert)
    third = radiologist()  # a third who would fit
    _lapse(offer)
    offers_expire_due()
    # One of the two (they rank alike, so either may be the one offered it).
    reoffer = Offer.objects.get(review_request=offer.review_request, status=Offer.Status.OPEN)
    assert reoffer.expert_id in {second.pk, third.pk}
    _lapse(reoffer)
    offers_expire_due()
    rr = ReviewRequest.objects.get(pk=offer.review_request_id)
    assert rr.status == ReviewRequest.Status.CANCELLED
    assert Offer.objects.filter(review_request=rr).count() == 2


def test_an_expert_who_had_the_item_elsewhere_is_not_offered_it_again(
    expert, other_expert, organization
):
    item = GoldenItemFactory()
    first = radiologist(user=expert)
    second = radiologist(user=other_expert)
    # The second expert was offered this item before (on another golden request).
    earlier = golden.golden_request_put(item=item, expert=second, for_organization=organization)
    offer = golden.golden_request_put(item=item, expert=first, for_organization=organization)
    _lapse(offer)
    Offer.objects.filter(pk=earlier.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    offers_expire_due()
    assert not Offer.objects.filter(review_request=offer.review_request, expert=second).exists()
    assert ReviewRequest.objects.get(pk=offer.review_request_id).status == "cancelled"


def test_a_qualification_item_is_never_offered_to_anyone_else(expert, other_expert):
    test = QualificationTestFactory(items=[GoldenItemFactory() for _ in range(3)])
    profile = radiologist(user=expert, max_concurrent=2)
    radiologist(user=other_expert)
    golden.qualification_start(expert=profile, test_id=test.pk)
    waiting = Offer.objects.get(expert=profile, status=Offer.Status.OPEN)
    _lapse(waiting)
    offers_expire_due()
    assert Offer.objects.filter(review_request=waiting.review_request).count() == 1
    rr = ReviewRequest.objects.get(pk=waiting.review_request_id)
    assert rr.status == ReviewRequest.Status.QUEUED
    assert GoldenRun.objects.get(review_request=rr).expert == profile


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_offer_a_lapsed_golden_item_once(expert, other_expert, organization):
    offer = _live_golden_offer(expert, organization)
    radiologist(user=other_expert)
    radiologist()
    _lapse(offer)

    def sweep() -> None:
        offers_expire_due()
        matching_run(review_request=offer.review_request)

    run_at_once(sweep, threads=2)
    # Whichever locked the request first re-offered it; the other found the open offer.
    offers = Offer.objects.filter(review_request=offer.review_request)
    assert offers.count() == 2
    assert offers.filter(status=Offer.Status.OPEN).count() == 1
