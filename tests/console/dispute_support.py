"""Builders for dispute tests (not a test module): a review submitted through the real
workspace service, so the hold, the capture and the earning are what production leaves."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from review_requests import dispute_services
from review_requests import workspace as ws
from review_requests.models import Assignment
from tests.factories import (
    AssignmentFactory,
    CreditGrantFactory,
    WorkIntervalFactory,
)

# $60/h for 30 billed minutes: the expert earns $30.00, the fee (20 %) is $6.00, captured $36.00.
RATE_CENTS = 6_000
EXPERT_CENTS = 3_000
FEE_CENTS = 600
CAPTURED_CENTS = 3_600


def submitted_assignment(organization, expert_user, *, funds: int = 100_000) -> Assignment:
    CreditGrantFactory(organization=organization, amount_cents=funds)
    assignment = AssignmentFactory(
        review_request__organization=organization, expert__user=expert_user, rate_cents=RATE_CENTS
    )
    now = timezone.now()
    # Two intervals, 20 and 10 minutes, with a 5-minute gap between them.
    WorkIntervalFactory(
        assignment=assignment,
        started_at=now - timedelta(minutes=35),
        last_heartbeat_at=now - timedelta(minutes=15),
        closed=True,
    )
    WorkIntervalFactory(
        assignment=assignment, started_at=now - timedelta(minutes=10), last_heartbeat_at=now
    )
    ws.chat_post(assignment_id=assignment.pk, user=expert_user, body="Starting on <b>it</b> now")
    ws.draft_update(
        assignment_id=assignment.pk,
        user=expert_user,
        changes={
            "verdict": "corrected",
            "corrected_output": "The scan shows no fracture of the left radius.",
            "summary": "The fracture is not there.",
            "scores": {"accuracy": 2, "clarity": 3},
        },
    )
    ws.assignment_submit(assignment=assignment, user=expert_user, now=now)
    assignment.refresh_from_db()
    return assignment


def open_dispute(assignment, user, **overrides):
    values = {
        "category": "quality",
        "description": "The review missed the obvious.",
        "requested_remedy": "full_refund",
    }
    values.update(overrides)
    return dispute_services.dispute_open(assignment=assignment, user=user, **values)


def ready_dispute(assignment, company_user, expert_user, **overrides):
    dispute = open_dispute(assignment, company_user, **overrides)
    return dispute_services.dispute_expert_answer(
        dispute=dispute, user=expert_user, statement="I checked every finding."
    )
