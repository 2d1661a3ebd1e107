"""Appends race on PostgreSQL: the head's row lock keeps one chain per organization, gap-free
and linked, however many workers build records at once (and the same record twice is once)."""

from __future__ import annotations

import pytest

from evidence import receivers, services
from evidence.models import EvidenceEntry
from evidence.selectors import chain_verify
from tests.conftest import run_at_once
from tests.console.dispute_support import submitted_assignment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_record_on_completion():
    """Completions build no record here: the threads of the test do."""
    from review_requests.signals import review_request_completed

    review_request_completed.disconnect(dispatch_uid="evidence_request_completed")
    yield
    receivers.connect()


def test_parallel_records_of_one_organization_make_one_linked_chain(
    organization, expert, no_record_on_completion
):
    request_ids = [submitted_assignment(organization, expert).review_request_id for _ in range(4)]
    queue = list(request_ids) + list(request_ids)  # each record asked for twice

    def work() -> None:
        services.evidence_for_completion(review_request_id=queue.pop())

    run_at_once(work, threads=len(queue))
    entries = EvidenceEntry.objects.filter(organization=organization).order_by("position")
    assert [e.position for e in entries] == [1, 2, 3, 4]
    assert {e.review_request_id for e in entries} == set(request_ids)
    assert chain_verify(organization_id=organization.pk).ok
