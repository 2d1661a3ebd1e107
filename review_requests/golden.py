"""Golden items put to experts as ordinary review requests (issue #20): the qualification test an
expert takes before offers in a specialization, golden items mixed into live work, their scoring
on submit, and a company marking one of its completed reviews as a golden item.

The money rule: every golden request belongs to the platform's organization and carries a
PlatformHoldGrant of purpose "quality" for its one slot, so the accept's hold, the capture and the
expert's earning all come from the platform's `platform_quality` account; no company balance is
ever touched. The grant's unique source_ref ("golden:<request id>"), the hold's unique ref and the
ledger's unique transaction refs make paying the same golden review twice impossible.

A live golden item whose offer expires or is declined (or whose expert gives it back) goes, like
a real request's slot, to one other eligible expert (golden_reoffer_locked): the same request, so
the same grant pays whoever accepts it, and no company balance is read or touched."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from experts.golden import golden_item_correct, golden_result_record, qualification_attempt_begin
from experts.models import (
    ExpertProfile,
    ExpertSpecialization,
    GoldenItem,
    QualificationAttempt,
    QualificationTest,
    SpecializationStanding,
)
from marketplace.transitions import record_initial
from review_requests.models import Assignment, GoldenRun, Offer, Review, ReviewRequest
from review_requests.services import FILLED_STATUSES, Refused, _max_seconds, hold_scope

# A qualification's offers wait for the expert this long (live golden offers expire like any).
QUALIFICATION_OFFER_DAYS = 7


def _platform_organization():
    from marketplace.services import platform_organization

    return platform_organization()


def golden_request_put(
    *, item: GoldenItem, expert: ExpertProfile, attempt=None, for_organization=None, now=None
) -> Offer:
    """One golden item as a review request offered to this expert only (inside the caller's
    transaction): the platform's request, its GoldenRun, the platform's grant for its hold, and
    the offer at the expert's rate."""
    from billing.models import PlatformHoldGrant
    from billing.services import platform_hold_grant_create

    now = now or timezone.now()
    organization = _platform_organization()
    rr = ReviewRequest.objects.create(
        organization=organization,
        title=item.title,
        specialization=item.specialization,
        content_type=item.content_type,
        content=item.content,
        prompt=item.prompt,
        guidelines=item.guidelines,
        rubric=item.rubric or [],
        max_hours=item.max_hours,
        reviewers=1,
        is_golden=True,
        created_at=now,
    )
    record_initial(rr, reason="golden item")
    GoldenRun.objects.create(
        review_request=rr,
        item=item,
        expert=expert,
        attempt=attempt,
        for_organization=for_organization,
        created_at=now,
    )
    platform_hold_grant_create(
        organization=organization,
        scope=hold_scope(review_request_id=rr.pk),
        source_ref=f"golden:{rr.pk}",
        reason="Qualification test" if attempt is not None else "Golden item in live work",
        purpose=PlatformHoldGrant.Purpose.QUALITY,
    )
    rate = expert.hourly_rate_cents or 0
    if attempt is not None:
        expires_at = now + timedelta(days=QUALIFICATION_OFFER_DAYS)
        reason = f"qualification test, {item.specialization.name.lower()}"
    else:
        expires_at = now + timedelta(minutes=settings.OFFER_EXPIRY_MINUTES)
        reason = f"{item.specialization.name.lower()}, ${rate / 100:,.2f}/h"
    return Offer.objects.create(
        review_request=rr,
        expert=expert,
        rate_cents=rate,
        reason=reason,
        created_at=now,
        expires_at=expires_at,
    )


# Qualification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualificationOffer:
    """What the expert sees before starting a test."""

    test: QualificationTest
    items: int
    cap_seconds: int
    rate_cents: int
    max_pay_cents: int
    standing: SpecializationStanding | None
    attempt: QualificationAttempt | None

    @property
    def cap_hours(self) -> float:
        return self.cap_seconds / 3600

    @property
    def qualified(self) -> bool:
        s = self.standing
        return s is not None and s.qualified_at is not None and s.suspended_at is None


def _test_items(test: QualificationTest) -> list[GoldenItem]:
    return list(test.items.filter(active=True).select_related("specialization").order_by("pk"))


def qualifications_for_expert(*, expert: ExpertProfile) -> list[QualificationOffer]:
    """Every configured test in a specialization the expert holds: its size, its time cap and
    the most it pays at the expert's rate (paid by the platform), with the expert's standing and
    latest attempt."""
    from billing.services import expert_cents_for

    held = ExpertSpecialization.objects.filter(expert=expert).values("specialization_id")
    tests = (
        QualificationTest.objects.filter(specialization_id__in=held)
        .select_related("specialization")
        .order_by("specialization__slug")
    )
    standings = {
        s.specialization_id: s for s in SpecializationStanding.objects.filter(expert=expert)
    }
    rate = expert.hourly_rate_cents or 0
    rows = []
    for test in tests:
        items = _test_items(test)
        if not items:
            continue
        cap = sum(_max_seconds(i.max_hours) for i in items)
        rows.append(
            QualificationOffer(
                test=test,
                items=len(items),
                cap_seconds=cap,
                rate_cents=rate,
                max_pay_cents=sum(
                    expert_cents_for(billed_seconds=_max_seconds(i.max_hours), rate_cents=rate)
                    for i in items
                ),
                standing=standings.get(test.specialization_id),
                attempt=QualificationAttempt.objects.filter(expert=expert, test=test).first(),
            )
        )
    return rows


def qualification_start(*, expert: ExpertProfile, test_id: int) -> QualificationAttempt:
    """Start (or start again) a specialization's test: one golden request per item, offered to
    this expert and accepted for them as far as their concurrency allows (the rest wait among
    their offers). Refused without a rate, outside the expert's specializations, or when
    already qualified and not suspended."""
    with transaction.atomic(durable=True):
        expert = ExpertProfile.objects.select_for_update().select_related("user").get(pk=expert.pk)
        test = QualificationTest.objects.select_related("specialization").filter(pk=test_id).first()
        if (
            test is None
            or not ExpertSpecialization.objects.filter(
                expert=expert, specialization_id=test.specialization_id
            ).exists()
        ):
            raise Refused(404, "not_found", "Not found.")
        items = _test_items(test)
        if not items:
            raise Refused(409, "no_test", "This specialization has no qualification test.")
        if not expert.hourly_rate_cents:
            raise Refused(409, "no_rate", "Set your hourly rate first: the test is paid at it.")
        standing = SpecializationStanding.objects.filter(
            expert=expert, specialization_id=test.specialization_id
        ).first()
        if standing and standing.qualified_at and standing.suspended_at is None:
            raise Refused(409, "already_qualified", "You are already qualified here.")
        attempt = qualification_attempt_begin(
            expert=expert,
            test=test,
            items_total=len(items),
            cap_seconds=sum(_max_seconds(i.max_hours) for i in items),
        )
        offers = [golden_request_put(item=i, expert=expert, attempt=attempt) for i in items]
    for offer in offers:
        _accept_quietly(offer=offer, expert=expert)
    return attempt


def _accept_quietly(*, offer: Offer, expert: ExpertProfile) -> None:
    from review_requests.services import offer_accept

    # At capacity: the offer waits among the expert's offers.
    with contextlib.suppress(Refused):
        offer_accept(offer_id=offer.pk, expert=expert)


# Scoring on submit, and golden items in live work ------------------------------------------


def golden_submit_record(*, review_request: ReviewRequest, review: Review) -> str:
    """Score a submitted golden review once (inside the submit's transaction) and record the
    result in the expert's standing. Returns the outcome (experts.golden.golden_result_record)."""
    run = (
        GoldenRun.objects.select_for_update()
        .select_related("item__specialization")
        .get(review_request=review_request)
    )
    if run.scored_at is not None:
        return "scored"
    correct = golden_item_correct(item=run.item, verdict=review.verdict, scores=review.scores)
    run.correct = correct
    run.scored_at = timezone.now()
    run.save(update_fields=["correct", "scored_at"])
    return golden_result_record(
        expert_id=run.expert_id, item=run.item, correct=correct, attempt_id=run.attempt_id
    )


def _draw() -> float:
    return secrets.randbelow(1_000_000) / 1_000_000


def golden_live_maybe(
    *, review_request: ReviewRequest, assignment: Assignment, draw: Callable[[], float] = _draw
) -> Offer | None:
    """After a live review is submitted: at the specialization's configured rate, offer the
    expert one golden item they have not seen (the platform's, or the requesting company's
    own), like any offer. Inside the submit's transaction."""
    test = (
        QualificationTest.objects.filter(specialization_id=review_request.specialization_id)
        .only("live_rate")
        .first()
    )
    if test is None or test.live_rate <= 0 or draw() >= test.live_rate:
        return None
    seen = golden_items_seen_by(expert_id=assignment.expert_id)
    item = (
        GoldenItem.objects.filter(specialization_id=review_request.specialization_id, active=True)
        .filter(Q(organization__isnull=True) | Q(organization_id=review_request.organization_id))
        .exclude(pk__in=seen)
        .select_related("specialization")
        .order_by("?")
        .first()
    )
    if item is None:
        return None
    expert = ExpertProfile.objects.select_related("user").get(pk=assignment.expert_id)
    offer = golden_request_put(
        item=item, expert=expert, for_organization=review_request.organization
    )
    _offer_notify(offer=offer, expert=expert)
    return offer


def golden_items_seen_by(*, expert_id):
    """The items an expert was put to or offered (a re-offer moves a run on to another expert,
    so its offers remember the ones before): never put to them again."""
    return (
        GoldenRun.objects.filter(
            Q(expert_id=expert_id) | Q(review_request__offers__expert_id=expert_id)
        )
        .values("item_id")
        .distinct()
    )


# A live golden offer that lapsed: one other eligible expert -----------------------------------


def golden_reoffer_locked(*, review_request: ReviewRequest, now) -> int:
    """Inside matching_run's transaction, the request locked: a live golden item with no open
    offer and no expert on it goes to the best-ranked eligible expert it was never offered to
    (matching's hard filters: specialization, qualification, suspension, availability, load,
    the company's blocks), at most settings.GOLDEN_LIVE_OFFERS_MAX offers in all. With nobody
    left it is withdrawn (cancelled): its grant was never spent, so no money moved. Called
    again (a second expiry sweep, a replayed decline), the open offer found makes it a no-op.
    Returns the offers created (0 or 1). A qualification's items stay the expert's own."""
    run = GoldenRun.objects.select_for_update().filter(review_request=review_request).first()
    if not _reofferable(review_request=review_request, run=run, now=now):
        return 0
    offered = set(review_request.offers.values_list("expert_id", flat=True))
    offered |= set(review_request.assignments.values_list("expert_id", flat=True))
    candidate = None
    if len(offered) < settings.GOLDEN_LIVE_OFFERS_MAX:
        candidate = _golden_candidate(review_request=review_request, run=run, now=now)
    if candidate is None:
        _golden_withdraw(review_request=review_request, offers=len(offered))
        return 0
    offer = Offer.objects.create(
        review_request=review_request,
        expert_id=candidate.expert_id,
        rate_cents=candidate.rate_cents,
        score=candidate.score,
        # Ranking's own reason, as a real offer shows it: a golden item looks like any offer.
        reason=candidate.reason[:300],
        created_at=now,
        expires_at=now + timedelta(minutes=settings.OFFER_EXPIRY_MINUTES),
    )
    run.expert_id = candidate.expert_id
    run.save(update_fields=["expert"])
    expert = ExpertProfile.objects.select_related("user").get(pk=candidate.expert_id)
    _offer_notify(offer=offer, expert=expert)
    return 1


def _reofferable(*, review_request: ReviewRequest, run: GoldenRun | None, now) -> bool:
    if run is None or run.attempt_id is not None or run.scored_at is not None:
        return False
    if review_request.status not in (ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW):
        return False
    if review_request.assignments.filter(status__in=FILLED_STATUSES).exists():
        return False
    return not review_request.offers.filter(status=Offer.Status.OPEN, expires_at__gt=now).exists()


def _golden_candidate(*, review_request: ReviewRequest, run: GoldenRun, now):
    """The best eligible expert who was never put to or offered this item (on any request)."""
    from experts.selectors import candidates_rank

    seen = set(GoldenRun.objects.filter(item_id=run.item_id).values_list("expert_id", flat=True))
    seen |= set(
        Offer.objects.filter(review_request__golden_run__item_id=run.item_id).values_list(
            "expert_id", flat=True
        )
    )
    found = candidates_rank(
        specialization_slug=review_request.specialization.slug,
        max_rate_cents=None,
        # The company whose live work brought the item: its blocks apply, as to its requests.
        organization_id=run.for_organization_id or review_request.organization_id,
        exclude_expert_ids=seen,
        now=now,
        deadline=None,
        limit=1,
    )
    return found[0] if found else None


def _golden_withdraw(*, review_request: ReviewRequest, offers: int) -> None:
    from review_requests.services import request_transition

    reason = (
        f"golden item: offered {offers} times, the most"
        if offers >= settings.GOLDEN_LIVE_OFFERS_MAX
        else "golden item: no other eligible expert"
    )
    request_transition(
        review_request=review_request, to=ReviewRequest.Status.CANCELLED, reason=reason
    )


def _offer_notify(*, offer: Offer, expert: ExpertProfile) -> None:
    from marketplace.services import notify

    rr = offer.review_request
    notify(
        user=expert.user,
        kind="offer",
        title=f"New offer: {rr.title[:120]}",
        body=(
            f"{rr.specialization.name}, up to {float(rr.max_hours):g} h at "
            f"${offer.rate_cents / 100:,.2f}/h. {offer.reason}"
        ),
        url="/expert/offers/",
    )


# A company's completed review as a golden item ----------------------------------------------


def golden_item_from_request(
    *, review_request: ReviewRequest, actor, tolerance: float = 0.0
) -> GoldenItem:
    """Mark one of the company's completed reviews as a golden item for its own pool: the
    request's content, the result's verdict and scores as the expected answer. Once per request
    (the unique source_review_request_id settles two at once). Refusals are ValidationErrors
    with a code: not_completed, no_verdict, already_golden; a bad tolerance names the field."""
    if review_request.is_golden or review_request.status != ReviewRequest.Status.COMPLETED:
        raise ValidationError(
            "Only a completed review of your own can become a golden item.", code="not_completed"
        )
    result = review_request.result or {}
    verdict = result.get("verdict") or ""
    if verdict not in GoldenItem.Verdict.values:
        raise ValidationError("This review has no single verdict to expect.", code="no_verdict")
    if not 0 <= tolerance <= 10:  # also refuses NaN
        raise ValidationError({"tolerance": "The tolerance is between 0 and 10 points."})
    scores = {
        k: v
        for k, v in (result.get("scores") or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    with transaction.atomic(durable=True):
        if GoldenItem.objects.filter(source_review_request_id=review_request.pk).exists():
            raise _already_golden()
        try:
            with transaction.atomic():
                item = _golden_item_of(review_request, verdict, scores, tolerance, actor)
        except IntegrityError as exc:  # the same request marked at the same moment elsewhere
            raise _already_golden() from exc
    return item


def _already_golden() -> ValidationError:
    return ValidationError("This review is already a golden item.", code="already_golden")


def _golden_item_of(
    review_request: ReviewRequest, verdict: str, scores: dict, tolerance: float, actor
) -> GoldenItem:
    return GoldenItem.objects.create(
        specialization_id=review_request.specialization_id,
        organization_id=review_request.organization_id,
        title=review_request.title,
        content_type=review_request.content_type,
        content=review_request.content,
        prompt=review_request.prompt,
        guidelines=review_request.guidelines,
        rubric=review_request.rubric or [],
        max_hours=Decimal(review_request.max_hours),
        expected_verdict=verdict,
        expected_scores=scores,
        tolerance=tolerance,
        source_review_request_id=review_request.pk,
        created_by=actor,
    )
