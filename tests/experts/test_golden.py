"""Proven experts, supply side (issue #20): scoring a golden review against its expected answer
(table-driven), what a result does to the standing, the standing selector's shape, and matching:
qualification required only where a test is configured, suspension excludes, accuracy weighs."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from experts.golden import golden_result_record, golden_review_correct, standing_pause_lift
from experts.matching import ACCURACY_PRIOR, WEIGHTS
from experts.models import SpecializationStanding
from experts.selectors import candidates_rank, expert_standing
from marketplace.models import AuditLog, Notification
from tests.factories import GoldenItemFactory, QualificationTestFactory, specialization
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("expected_verdict", "expected_scores", "tolerance", "verdict", "scores", "correct"),
    [
        ("approved", {}, 0, "approved", {}, True),
        ("approved", {}, 0, "rejected", {}, False),
        ("", {}, 0, "corrected", {}, True),  # no verdict expected: any verdict
        ("approved", {"accuracy": 4}, 0, "approved", {"accuracy": 4}, True),
        ("approved", {"accuracy": 4}, 0, "approved", {"accuracy": 3}, False),
        ("approved", {"accuracy": 4}, 1, "approved", {"accuracy": 3}, True),
        ("approved", {"accuracy": 4}, 1, "approved", {"accuracy": 5}, True),
        ("approved", {"accuracy": 4}, 1, "approved", {"accuracy": 2}, False),
        ("approved", {"accuracy": 4}, 0.5, "approved", {"accuracy": 3}, False),
        ("approved", {"accuracy": 4}, 1, "approved", {}, False),  # an expected score missing
        ("approved", {"accuracy": 4}, 1, "approved", {"accuracy": True}, False),
        ("approved", {"accuracy": 4}, 1, "approved", {"accuracy": "4"}, False),
        ("approved", {"accuracy": 4}, 0, "approved", {"accuracy": 4, "clarity": 1}, True),
        (
            "rejected",
            {"accuracy": 2, "clarity": 3},
            1,
            "rejected",
            {"accuracy": 3, "clarity": 2},
            True,
        ),
        (
            "rejected",
            {"accuracy": 2, "clarity": 3},
            1,
            "approved",
            {"accuracy": 2, "clarity": 3},
            False,
        ),
    ],
)
def test_a_golden_review_is_scored_against_expected_values_with_tolerance(
    expected_verdict, expected_scores, tolerance, verdict, scores, correct
):
    assert (
        golden_review_correct(
            expected_verdict=expected_verdict,
            expected_scores=expected_scores,
            tolerance=tolerance,
            verdict=verdict,
            scores=scores,
        )
        is correct
    )


def test_standing_is_empty_until_measured_then_says_what_was_proven():
    expert = radiologist()
    spec = specialization()
    assert expert_standing(expert=expert, specialization=spec) == {
        "qualified": False,
        "qualified_at": None,
        "accuracy": None,
        "accuracy_n": 0,
    }
    now = timezone.now()
    SpecializationStanding.objects.create(
        expert=expert, specialization=spec, qualified_at=now, golden_correct=3, golden_total=4
    )
    assert expert_standing(expert=expert.pk, specialization=spec.pk) == {
        "qualified": True,
        "qualified_at": now,
        "accuracy": 0.75,
        "accuracy_n": 4,
    }


def test_live_results_count_and_below_the_floor_the_expert_is_suspended_and_told(settings):
    settings.GOLDEN_MIN_SAMPLE = 3
    settings.GOLDEN_ACCURACY_FLOOR_PERCENT = 70
    expert = radiologist()
    item = GoldenItemFactory()
    assert golden_result_record(expert_id=expert.pk, item=item, correct=True) == "scored"
    assert golden_result_record(expert_id=expert.pk, item=item, correct=False) == "scored"
    # 1 of 3 = 33 %: below the floor, with enough items to say so.
    assert golden_result_record(expert_id=expert.pk, item=item, correct=False) == "suspended"
    standing = SpecializationStanding.objects.get(expert=expert)
    assert (standing.golden_correct, standing.golden_total) == (1, 3)
    assert standing.suspended_at is not None
    assert "33%" in standing.suspended_reason and "qualification" in standing.suspended_reason
    assert Notification.objects.filter(user=expert.user, title__startswith="Offers paused").exists()
    assert expert_standing(expert=expert, specialization=item.specialization)["qualified"] is False


def _rank(**kw):
    return candidates_rank(
        specialization_slug="medicine.radiology",
        max_rate_cents=None,
        organization_id=None,
        exclude_expert_ids=(),
        now=timezone.now(),
        deadline=None,
        limit=10,
        **kw,
    )


def test_without_a_test_unqualified_experts_are_matched_as_before():
    expert = radiologist()
    QualificationTestFactory(items=[])  # a test with no items is not configured
    assert [c.expert_id for c in _rank()] == [expert.pk]


def test_with_a_test_only_qualified_experts_are_matched():
    unqualified = radiologist()
    qualified = radiologist()
    SpecializationStanding.objects.create(
        expert=qualified, specialization=specialization(), qualified_at=timezone.now()
    )
    QualificationTestFactory(items=[GoldenItemFactory()])
    assert [c.expert_id for c in _rank()] == [qualified.pk]
    assert unqualified.pk not in [c.expert_id for c in _rank()]
    # Other specializations ask for nothing.
    assert candidates_rank(
        specialization_slug="medicine",
        max_rate_cents=None,
        organization_id=None,
        exclude_expert_ids=(),
        now=timezone.now(),
        deadline=None,
        limit=10,
    )


def test_a_suspended_expert_gets_no_offers_in_that_specialization_only():
    suspended = radiologist()
    SpecializationStanding.objects.create(
        expert=suspended,
        specialization=specialization(),
        qualified_at=timezone.now(),
        suspended_at=timezone.now(),
        suspended_reason="below the floor",
    )
    assert _rank() == []
    # A request for the parent field still reaches them (the standing is per specialization).
    parent = candidates_rank(
        specialization_slug="medicine",
        max_rate_cents=None,
        organization_id=None,
        exclude_expert_ids=(),
        now=timezone.now(),
        deadline=None,
        limit=10,
    )
    assert [c.expert_id for c in parent] == [suspended.pk]


def test_accuracy_weighs_in_the_score_with_a_prior_while_unmeasured():
    sharp = radiologist()
    sloppy = radiologist()
    unmeasured = radiologist()
    spec = specialization()
    SpecializationStanding.objects.create(
        expert=sharp, specialization=spec, golden_correct=10, golden_total=10
    )
    SpecializationStanding.objects.create(
        expert=sloppy, specialization=spec, golden_correct=2, golden_total=10
    )
    ranked = _rank()
    assert [c.expert_id for c in ranked] == [sharp.pk, unmeasured.pk, sloppy.pk]
    scores = {c.expert_id: c.score for c in ranked}
    assert scores[sharp.pk] - scores[sloppy.pk] == pytest.approx(WEIGHTS["accuracy"] * 0.8)
    assert scores[sharp.pk] - scores[unmeasured.pk] == pytest.approx(
        WEIGHTS["accuracy"] * (1 - ACCURACY_PRIOR)
    )


# Lifting a pause (operators) ------------------------------------------------------------------


def _paused(expert, **fields) -> SpecializationStanding:
    values = {
        "expert": expert,
        "specialization": specialization(),
        "qualified_at": timezone.now(),
        "golden_correct": 2,
        "golden_total": 10,
        "suspended_at": timezone.now(),
        "suspended_reason": "Your accuracy on golden items in Radiology is 20% over 10 items.",
    }
    values.update(fields)
    return SpecializationStanding.objects.create(**values)


def test_the_suspension_says_how_to_requalify_as_things_are_configured(settings):
    settings.GOLDEN_MIN_SAMPLE = 1
    no_test = radiologist()
    item = GoldenItemFactory()
    golden_result_record(expert_id=no_test.pk, item=item, correct=False)
    reason = SpecializationStanding.objects.get(expert=no_test).suspended_reason
    assert "no qualification test to take right now" in reason and "operator" in reason
    QualificationTestFactory(items=[GoldenItemFactory()])
    with_test = radiologist()
    golden_result_record(expert_id=with_test.pk, item=item, correct=False)
    reason = SpecializationStanding.objects.get(expert=with_test).suspended_reason
    assert "Pass the qualification test again" in reason


def test_an_operator_lifts_a_pause_once_with_a_reason_the_expert_reads(
    operator, django_capture_on_commit_callbacks
):
    expert = radiologist()
    standing = _paused(expert)
    assert _rank() == []
    with django_capture_on_commit_callbacks(execute=True):
        lifted = standing_pause_lift(
            standing_id=standing.pk, operator=operator, reason="Two items had a wrong key."
        )
    assert lifted.suspended_at is None and lifted.suspended_reason == ""
    standing.refresh_from_db()
    # Accuracy counts afresh (else the next golden item would pause them again at once).
    assert (standing.golden_correct, standing.golden_total) == (0, 0)
    assert standing.qualified_at is not None
    assert [c.expert_id for c in _rank()] == [expert.pk]
    [row] = AuditLog.objects.filter(action="golden.pause_lifted")
    assert (row.actor, row.object_id) == (operator, str(standing.pk))
    assert row.before["golden_total"] == 10 and row.after["reason"] == "Two items had a wrong key."
    notice = Notification.objects.get(user=expert.user, title="Offers in Radiology resumed")
    assert "Two items had a wrong key." in notice.body

    # A second submit (a double click, a reload of the POST): refused, nothing changes.
    with pytest.raises(ValidationError) as exc:
        standing_pause_lift(standing_id=standing.pk, operator=operator, reason="again")
    assert exc.value.code == "not_paused"
    assert AuditLog.objects.filter(action="golden.pause_lifted").count() == 1
    assert Notification.objects.filter(user=expert.user, title__contains="resumed").count() == 1


def test_a_lift_needs_a_reason_and_an_operator(operator, company_member):
    standing = _paused(radiologist())
    with pytest.raises(ValidationError):
        standing_pause_lift(standing_id=standing.pk, operator=operator, reason="  ")
    with pytest.raises(PermissionDenied):
        standing_pause_lift(standing_id=standing.pk, operator=company_member, reason="x")
    with pytest.raises(SpecializationStanding.DoesNotExist):
        standing_pause_lift(standing_id=standing.pk + 1000, operator=operator, reason="x")
    standing.refresh_from_db()
    assert standing.suspended_at is not None and standing.golden_total == 10
    assert not AuditLog.objects.filter(action="golden.pause_lifted").exists()
