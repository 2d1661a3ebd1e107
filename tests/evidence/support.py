"""Builders for evidence tests (not a test module): a request completed through the real
workspace services, its record built by the task its completion signal enqueues."""

from __future__ import annotations

from django.utils import timezone

from evidence.models import EvidenceEntry
from tests.console.dispute_support import submitted_assignment
from tests.factories import CredentialFactory, ExpertProfileFactory


def completed_request(organization, expert_user, operator, capture):
    """A one-reviewer request reviewed by `expert_user` (a verified, operator-checked medical
    licence), completed with on-commit callbacks run: returns (assignment, record entry)."""
    profile = ExpertProfileFactory(user=expert_user, display_name="Dr Erin")
    CredentialFactory(
        expert=profile,
        issuer="Medical Board of California",
        number="A-12345",
        jurisdiction="CA",
        expires_on=timezone.localdate().replace(year=timezone.localdate().year + 2),
        reviewed_by=operator,
        reviewed_at=timezone.now(),
    )
    with capture(execute=True):
        assignment = submitted_assignment(organization, expert_user)
    record = EvidenceEntry.objects.get(
        review_request_id=assignment.review_request_id, kind=EvidenceEntry.Kind.RECORD
    )
    return assignment, record
