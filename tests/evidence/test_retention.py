"""Retention: EVIDENCE_RETENTION_DAYS (default 183; the system check refuses less), a task that
deletes only what is past it and appends a "pruned" entry, after which evidence_verify passes."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from evidence import services
from evidence.checks import retention_check
from evidence.models import EvidenceEntry
from tests.evidence.support import completed_request

pytestmark = pytest.mark.django_db


def test_the_check_refuses_less_than_six_months(settings):
    settings.EVIDENCE_RETENTION_DAYS = 182
    (error,) = retention_check()
    assert error.id == "evidence.E001" and "183" in error.msg
    settings.EVIDENCE_RETENTION_DAYS = 183
    assert retention_check() == []


def test_the_default_is_183_days(settings):
    assert settings.EVIDENCE_RETENTION_DAYS == 183


def test_pruning_deletes_only_what_is_past_retention_and_says_so(
    organization, expert, other_expert, operator, django_capture_on_commit_callbacks
):
    completed_request(organization, expert, operator, django_capture_on_commit_callbacks)
    completed_request(organization, other_expert, operator, django_capture_on_commit_callbacks)
    old, young = EvidenceEntry.objects.order_by("position")
    # The day the first is 183 days old and the second not yet.
    cutoff = old.created_at + (young.created_at - old.created_at) / 2
    later = cutoff + timedelta(days=183)
    assert services.evidence_retention_prune(now=later) == 1

    kept = list(EvidenceEntry.objects.order_by("position"))
    assert [(e.position, e.kind) for e in kept] == [(2, "record"), (3, "pruned")]
    pruned = kept[1].body
    assert (pruned["from_position"], pruned["through_position"]) == (1, 1)
    assert pruned["last_hash"] == old.entry_hash
    assert pruned["deleted"][0]["review_request_id"] == str(old.review_request_id)
    assert pruned["retention_days"] == 183
    out = io.StringIO()
    call_command("evidence_verify", stdout=out)
    assert "3 entries" not in out.getvalue() and "2 entries, head #3" in out.getvalue()
    # Nothing more is past retention: a second run deletes nothing and appends nothing.
    assert services.evidence_retention_prune(now=later) == 0
    assert EvidenceEntry.objects.count() == 2


def test_nothing_young_is_pruned(
    organization, expert, operator, django_capture_on_commit_callbacks
):
    completed_request(organization, expert, operator, django_capture_on_commit_callbacks)
    assert services.evidence_retention_prune(now=timezone.now() + timedelta(days=182)) == 0
    assert EvidenceEntry.objects.count() == 1


def test_pruning_a_whole_chain_twice_still_verifies(
    organization, expert, other_expert, operator, django_capture_on_commit_callbacks
):
    completed_request(organization, expert, operator, django_capture_on_commit_callbacks)
    far = timezone.now() + timedelta(days=400)
    assert services.evidence_retention_prune(now=far) == 1
    completed_request(organization, other_expert, operator, django_capture_on_commit_callbacks)
    call_command("evidence_verify", stdout=io.StringIO())
    # Later still, the first pruning and the second record are past retention too.
    assert services.evidence_retention_prune(now=far + timedelta(days=400)) == 2
    (pruned,) = EvidenceEntry.objects.all()
    assert (pruned.position, pruned.body["from_position"], pruned.body["through_position"]) == (
        4,
        2,
        3,
    )
    out = io.StringIO()
    call_command("evidence_verify", stdout=out)
    assert "1 entries, head #4" in out.getvalue()
