"""Builders of reviewed data for the export tests, and a storage of each test's own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from review_requests.models import ReviewRequest
from tests.factories import AssignmentFactory, ReviewFactory, ReviewRequestFactory


@pytest.fixture(autouse=True)
def _media_of_its_own(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def corrected_request(organization, *, corrected="Fixed.", reviewers=1, agreement=None, **fields):
    """A completed request whose reviewers each corrected the output (Review rows and result
    alike, as the submit path leaves them)."""
    fields.setdefault("completed_at", timezone.now() - timedelta(hours=1))
    fields.setdefault("status", ReviewRequest.Status.COMPLETED)
    rr = ReviewRequestFactory(organization=organization, **fields)
    reviews = []
    for n in range(reviewers):
        assignment = AssignmentFactory(
            review_request=rr, held=False, status="submitted", billed_seconds=300 + n
        )
        ReviewFactory(assignment=assignment, corrected_output=corrected, scores={"accuracy": 3})
        reviews.append(
            {
                "assignment_id": str(assignment.pk),
                "verdict": "corrected",
                "corrected_output": corrected,
                "summary": "s",
                "scores": {"accuracy": 3},
                "annotations": [],
            }
        )
    rr.result = {
        "verdict": "corrected",
        "corrected_output": corrected,
        "summary": "s",
        "scores": {"accuracy": 3},
        "annotations": [],
        "reviews": reviews,
        "agreement": agreement,
    }
    rr.save(update_fields=["result"])
    return rr
