"""Proven experts (issue #20): scoring a golden review against its expected answer, and what a
result changes in the expert's standing (a qualification attempt's outcome, live accuracy and
the suspension below the floor).

Called from review_requests (experts never import it) inside the submit's transaction, with
plain values: the verdict and scores of the review, the expert's and item's ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from experts.models import (
    ExpertProfile,
    GoldenItem,
    QualificationAttempt,
    QualificationTest,
    SpecializationStanding,
)
from experts.signals import expert_supply_changed
from marketplace.services import audit_record, notify
from marketplace.transitions import record_initial, transition


def golden_review_correct(
    *,
    expected_verdict: str,
    expected_scores: Mapping[str, Any],
    tolerance: float,
    verdict: str,
    scores: Mapping[str, Any],
) -> bool:
    """Right when the verdict is the expected one (any verdict when none is expected) and every
    expected score is given and within `tolerance` points of the expected value. Scores the item
    does not expect are ignored."""
    if expected_verdict and verdict != expected_verdict:
        return False
    for name, expected in (expected_scores or {}).items():
        given = (scores or {}).get(name)
        if isinstance(given, bool) or not isinstance(given, int | float):
            return False
        if abs(float(given) - float(expected)) > float(tolerance) + 1e-9:
            return False
    return True


def golden_item_correct(*, item: GoldenItem, verdict: str, scores: Mapping[str, Any]) -> bool:
    return golden_review_correct(
        expected_verdict=item.expected_verdict,
        expected_scores=item.expected_scores,
        tolerance=item.tolerance,
        verdict=verdict,
        scores=scores,
    )


def accuracy_floor() -> float:
    return settings.GOLDEN_ACCURACY_FLOOR_PERCENT / 100


def _standing_locked(*, expert_id, specialization_id) -> SpecializationStanding:
    standing, _ = SpecializationStanding.objects.select_for_update().get_or_create(
        expert_id=expert_id, specialization_id=specialization_id
    )
    return standing


def qualification_attempt_begin(
    *, expert: ExpertProfile, test: QualificationTest, items_total: int, cap_seconds: int
) -> QualificationAttempt:
    """A new attempt (inside the caller's transaction, which puts its items to the expert);
    an unfinished earlier attempt at the same test is abandoned."""
    for earlier in QualificationAttempt.objects.select_for_update().filter(
        expert=expert, test=test, status=QualificationAttempt.Status.STARTED
    ):
        transition(earlier, QualificationAttempt.Status.ABANDONED, reason="started again")
    attempt = QualificationAttempt.objects.create(
        expert=expert,
        test=test,
        specialization_id=test.specialization_id,
        items_total=items_total,
        pass_threshold=test.pass_threshold,
        rate_cents=expert.hourly_rate_cents or 0,
        cap_seconds=cap_seconds,
    )
    record_initial(attempt, actor=expert.user, reason="started")
    return attempt


def golden_result_record(*, expert_id, item: GoldenItem, correct: bool, attempt_id=None) -> str:
    """Record one scored golden review (inside the submit's transaction). In a qualification
    attempt it counts toward the attempt, which passes or fails with its last item; in live work
    it updates accuracy and suspends the expert in that specialization below the floor.
    Returns what happened: "scored", "passed", "failed", "suspended"."""
    if attempt_id is not None:
        return _attempt_result(attempt_id=attempt_id, correct=correct)
    standing = _standing_locked(expert_id=expert_id, specialization_id=item.specialization_id)
    standing.golden_total += 1
    standing.golden_correct += 1 if correct else 0
    fields = ["golden_total", "golden_correct", "updated_at"]
    outcome = "scored"
    accuracy = standing.golden_correct / standing.golden_total
    if (
        standing.suspended_at is None
        and standing.golden_total >= settings.GOLDEN_MIN_SAMPLE
        and accuracy < accuracy_floor()
    ):
        standing.suspended_at = timezone.now()
        standing.suspended_reason = (
            f"Your accuracy on golden items in {item.specialization.name} is "
            f"{accuracy:.0%} over {standing.golden_total} items, below the "
            f"{accuracy_floor():.0%} floor. {requalify_hint(item.specialization_id)}"
        )[:500]
        fields += ["suspended_at", "suspended_reason"]
        outcome = "suspended"
    standing.save(update_fields=fields)
    if outcome == "suspended":
        _tell(expert_id, "Offers paused in " + item.specialization.name, standing.suspended_reason)
    return outcome


def requalify_hint(specialization_id) -> str:
    """How a paused expert gets offers in the specialization again, as things are configured."""
    if QualificationTest.objects.filter(
        specialization_id=specialization_id, items__active=True
    ).exists():
        return "Pass the qualification test again to get offers in this specialization."
    return (
        "This specialization has no qualification test to take right now: an operator reviews "
        "paused experts and can lift the pause."
    )


def standing_pause_lift(*, standing_id: int, operator, reason: str) -> SpecializationStanding:
    """An operator lifts an expert's pause in one specialization, with the reason the expert
    reads; audit-logged. Accuracy counts afresh from the lift, as from a requalification: kept,
    the record below the floor would pause them again at their next golden item (the counts
    before the lift stay in the audit log). Refused when the standing is not paused, so a second
    submit or a reload of the POST changes nothing. SpecializationStanding.DoesNotExist for an
    unknown id."""
    if not getattr(operator, "is_operator", False):
        raise PermissionDenied("Only operators lift pauses.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the pause is lifted: the expert reads it."})
    with transaction.atomic(durable=True):
        standing = (
            SpecializationStanding.objects.select_for_update()
            .select_related("specialization", "expert")
            .get(pk=standing_id)
        )
        if standing.suspended_at is None:
            raise ValidationError(
                f"{standing.expert} is not paused in {standing.specialization.name} "
                "(the pause was lifted already, or they requalified).",
                code="not_paused",
            )
        before = {
            "suspended_at": standing.suspended_at.isoformat(),
            "suspended_reason": standing.suspended_reason,
            "golden_correct": standing.golden_correct,
            "golden_total": standing.golden_total,
        }
        standing.suspended_at = None
        standing.suspended_reason = ""
        standing.golden_correct = standing.golden_total = 0
        standing.save(
            update_fields=[
                "suspended_at",
                "suspended_reason",
                "golden_correct",
                "golden_total",
                "updated_at",
            ]
        )
        _pause_lift_record(standing=standing, operator=operator, reason=reason, before=before)
    return standing


def _pause_lift_record(*, standing: SpecializationStanding, operator, reason: str, before) -> None:
    """The lift's audit row, the expert's notice and the re-match (on commit)."""
    name = standing.specialization.name
    audit_record(
        actor=operator,
        action="golden.pause_lifted",
        object_type="specialization_standing",
        object_id=standing.pk,
        before=before,
        after={
            "expert": str(standing.expert_id),
            "specialization": standing.specialization.slug,
            "reason": reason,
        },
    )
    _tell(
        standing.expert_id,
        f"Offers in {name} resumed",
        f"An operator lifted the pause: “{reason}”. Your accuracy on golden items in {name} "
        "counts afresh from now.",
    )
    expert_id = standing.expert_id
    transaction.on_commit(
        lambda: expert_supply_changed.send(sender=ExpertProfile, expert_id=expert_id)
    )


def _attempt_result(*, attempt_id, correct: bool) -> str:
    attempt = (
        QualificationAttempt.objects.select_for_update()
        .select_related("specialization")
        .get(pk=attempt_id)
    )
    if attempt.status != QualificationAttempt.Status.STARTED:
        return "scored"  # an abandoned attempt's late item changes nothing
    attempt.items_scored += 1
    attempt.items_correct += 1 if correct else 0
    attempt.save(update_fields=["items_scored", "items_correct"])
    if attempt.items_scored < attempt.items_total:
        return "scored"
    share = attempt.items_correct / attempt.items_total
    now = timezone.now()
    name = attempt.specialization.name
    if share + 1e-9 >= attempt.pass_threshold:
        transition(attempt, QualificationAttempt.Status.PASSED, reason="passed", finished_at=now)
        standing = _standing_locked(
            expert_id=attempt.expert_id, specialization_id=attempt.specialization_id
        )
        # Accuracy counts from the latest qualification: a requalified expert starts afresh.
        standing.qualified_at = now
        standing.golden_correct = standing.golden_total = 0
        standing.suspended_at = None
        standing.suspended_reason = ""
        standing.save()
        _tell(
            attempt.expert_id,
            f"Qualified in {name}",
            f"You passed with {attempt.items_correct} of {attempt.items_total} right; "
            "offers in this specialization can reach you now.",
        )
        return "passed"
    transition(attempt, QualificationAttempt.Status.FAILED, reason="not passed", finished_at=now)
    _tell(
        attempt.expert_id,
        f"Qualification in {name} not passed",
        f"{attempt.items_correct} of {attempt.items_total} right; "
        f"{attempt.pass_threshold:.0%} is needed. You may take the test again.",
    )
    return "failed"


def _tell(expert_id, title: str, body: str) -> None:
    user = ExpertProfile.objects.select_related("user").get(pk=expert_id).user
    notify(user=user, kind="status", title=title[:200], body=body, url="/expert/qualifications/")


def golden_item_create(*, actor, organization=None, **fields) -> GoldenItem:
    """A golden item, validated (operators for the platform, a company admin for its pool)."""
    with transaction.atomic(durable=True):
        item = GoldenItem(organization=organization, created_by=actor, **fields)
        item.full_clean()
        item.save()
    return item


def qualification_test_set(
    *,
    specialization,
    pass_threshold: float,
    live_rate: float,
    item_ids,
    actor,
) -> QualificationTest:
    """Configure a specialization's test (operators): its items, the pass threshold (share
    right) and the rate of golden items in live work. Only the platform's active items of that
    specialization can be in it; no items means no qualification is asked for."""
    if not 0 < pass_threshold <= 1 or not 0 <= live_rate <= 1:
        raise ValidationError("The threshold and the live rate are shares between 0 and 1.")
    ids = {int(pk) for pk in item_ids}
    items = list(
        GoldenItem.objects.filter(
            pk__in=ids, specialization=specialization, organization__isnull=True, active=True
        )
    )
    if len(items) != len(ids):
        raise ValidationError(
            {"items": "Choose active platform items of this specialization only."}
        )
    with transaction.atomic(durable=True):
        test, _ = QualificationTest.objects.select_for_update().get_or_create(
            specialization=specialization
        )
        test.pass_threshold = pass_threshold
        test.live_rate = live_rate
        test.updated_by = actor
        test.save()
        test.items.set(items)
        audit_record(
            actor=actor,
            action="golden.qualification_test_set",
            object_type="qualification_test",
            object_id=test.pk,
            after={
                "specialization": specialization.slug,
                "pass_threshold": pass_threshold,
                "live_rate": live_rate,
                "items": sorted(ids),
            },
        )
    return test
