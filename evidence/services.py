"""Writes of the evidence app: appending to an organization's chain (the record of a completed
request, a dispute outcome, a pruning), the watch log, the retention task and the daily anchor.
Every append locks the chain's head, so positions never fork and hashes link in order."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evidence import records
from evidence.canonical import GENESIS_HASH, canonical_json, link_hash
from evidence.models import ChainHead, EvidenceAnchor, EvidenceEntry, WatchSession
from review_requests.evidence_selectors import (
    oversight_dispute_facts,
    review_request_for_oversight,
)

logger = logging.getLogger(__name__)
Kind = EvidenceEntry.Kind


def _locked_head(organization_id: int) -> ChainHead:
    ChainHead.objects.get_or_create(
        organization_id=organization_id, defaults={"head_hash": GENESIS_HASH}
    )
    return ChainHead.objects.select_for_update().get(organization_id=organization_id)


def _append(
    *, head: ChainHead, kind: str, body: dict[str, Any], review_request_id=None
) -> EvidenceEntry:
    """The next entry of the locked head's chain. The body goes through JSON once, so what is
    hashed is exactly what the database gives back."""
    entry = EvidenceEntry(
        organization_id=head.organization_id,
        position=head.position + 1,
        kind=kind,
        review_request_id=review_request_id,
        schema_version=records.SCHEMA_VERSION,
        body=json.loads(canonical_json(body)),
        created_at=timezone.now(),
        previous_hash=head.head_hash,
    )
    entry.entry_hash = link_hash(entry.previous_hash, entry.hashed_fields())
    entry.save()
    head.position = entry.position
    head.head_hash = entry.entry_hash
    head.updated_at = entry.created_at
    head.save(update_fields=["position", "head_hash", "updated_at"])
    return entry


def evidence_for_completion(*, review_request_id) -> list[EvidenceEntry]:
    """A request completed: its record, the first time; after a dispute, one entry per dispute
    decided since. Safe to run twice (the head lock and what is already in the chain decide)."""
    with transaction.atomic(durable=True):
        review_request = review_request_for_oversight(review_request_id=review_request_id)
        if review_request.is_golden:
            # A golden item measures the reviewer for the platform: no company's AI output was
            # overseen, so it has no record (its result lives in the expert's standing).
            return []
        head = _locked_head(review_request.organization_id)
        entries = EvidenceEntry.objects.filter(review_request_id=review_request.pk)
        if not entries.filter(kind=Kind.RECORD).exists():
            body = records.record_body(review_request=review_request, now=timezone.now())
            return [
                _append(head=head, kind=Kind.RECORD, body=body, review_request_id=review_request.pk)
            ]
        return _dispute_outcomes_append(head=head, review_request=review_request, entries=entries)


def _dispute_outcomes_append(*, head, review_request, entries) -> list[EvidenceEntry]:
    recorded: set[str] = set()
    known_assignments: set[str] = set()
    for entry in entries:
        body = entry.body
        if entry.kind == Kind.RECORD:
            recorded |= {d["dispute_id"] for d in body["disputes"] if d["outcome"]}
            known_assignments |= {r["assignment_id"] for r in body["reviewers"]}
        elif entry.kind in (Kind.DISPUTE_OUTCOME, Kind.REWORK_COMPLETED):
            known_assignments |= {r["assignment_id"] for r in body["new_reviewers"]}
            if entry.kind == Kind.DISPUTE_OUTCOME:
                recorded.add(body["dispute"]["dispute_id"])
    appended = []
    for dispute in oversight_dispute_facts(review_request=review_request):
        if not dispute["outcome"] or dispute["dispute_id"] in recorded:
            continue
        body = records.dispute_outcome_body(
            review_request=review_request,
            dispute=dispute,
            known_assignments=known_assignments,
            now=timezone.now(),
        )
        known_assignments |= {r["assignment_id"] for r in body["new_reviewers"]}
        appended.append(
            _append(
                head=head,
                kind=Kind.DISPUTE_OUTCOME,
                body=body,
                review_request_id=review_request.pk,
            )
        )
    rework = records.rework_body(
        review_request=review_request, known_assignments=known_assignments, now=timezone.now()
    )
    if rework is not None:
        appended.append(
            _append(
                head=head,
                kind=Kind.REWORK_COMPLETED,
                body=rework,
                review_request_id=review_request.pk,
            )
        )
    return appended


def watch_session_record(*, review_request_id, assignment_id, user, role: str) -> WatchSession:
    with transaction.atomic(durable=True):
        return WatchSession.objects.create(
            review_request_id=review_request_id, assignment_id=assignment_id, user=user, role=role
        )


# Retention -------------------------------------------------------------------------------------


def retention_cutoff(*, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=settings.EVIDENCE_RETENTION_DAYS)


def evidence_retention_prune(*, now: datetime | None = None) -> int:
    """Deletes the entries older than EVIDENCE_RETENTION_DAYS, and only those: per chain the
    run of its oldest entries that are all past the cutoff, then appends a "pruned" entry naming
    every deleted entry and the last deleted hash, which the next surviving entry links to (so
    evidence_verify passes). Returns how many entries were deleted."""
    cutoff = retention_cutoff(now=now)
    organization_ids = (
        EvidenceEntry.objects.filter(created_at__lt=cutoff)
        .order_by()
        .values_list("organization_id", flat=True)
        .distinct()
    )
    deleted = 0
    for organization_id in sorted(set(organization_ids)):
        deleted += _prune_chain(organization_id=organization_id, cutoff=cutoff)
    return deleted


def _prune_chain(*, organization_id: int, cutoff: datetime) -> int:
    with transaction.atomic(durable=True):
        head = _locked_head(organization_id)
        chain = EvidenceEntry.objects.filter(organization_id=organization_id)
        first_kept = (
            chain.filter(created_at__gte=cutoff)
            .order_by("position")
            .values_list("position", flat=True)
        ).first()
        doomed = chain.filter(created_at__lt=cutoff)
        if first_kept is not None:
            doomed = doomed.filter(position__lt=first_kept)
        rows = list(
            doomed.order_by("position").values(
                "id", "position", "kind", "review_request_id", "entry_hash", "created_at"
            )
        )
        if not rows:
            return 0
        review_request_ids = {row["review_request_id"] for row in rows if row["review_request_id"]}
        EvidenceEntry.objects.filter(pk__in=[row["id"] for row in rows]).retention_delete()
        WatchSession.objects.filter(review_request_id__in=review_request_ids).delete()
        _append(head=head, kind=Kind.PRUNED, body=_pruned_body(rows=rows, cutoff=cutoff))
        logger.info("evidence: pruned %s entries of organization %s", len(rows), organization_id)
        return len(rows)


def _pruned_body(*, rows: list[dict], cutoff: datetime) -> dict[str, Any]:
    return {
        "schema": "inloop.evidence.pruned",
        "schema_version": records.SCHEMA_VERSION,
        "retention_days": settings.EVIDENCE_RETENTION_DAYS,
        "cutoff": cutoff.isoformat(),
        "deleted_count": len(rows),
        "from_position": rows[0]["position"],
        "through_position": rows[-1]["position"],
        "last_hash": rows[-1]["entry_hash"],
        "deleted": [
            {
                "position": row["position"],
                "kind": row["kind"],
                "review_request_id": str(row["review_request_id"])
                if row["review_request_id"]
                else None,
                "created_at": row["created_at"].isoformat(),
                "entry_hash": row["entry_hash"],
            }
            for row in rows
        ],
    }


# Daily anchor ----------------------------------------------------------------------------------


def anchor_payload(*, day: str, heads: list[dict[str, Any]]) -> dict[str, Any]:
    return {"day": day, "heads": heads}


def evidence_anchor_daily(*, now: datetime | None = None) -> EvidenceAnchor:
    """Today's anchor (UTC day): one hash over every chain's head and yesterday's anchor. Made
    once a day; a second run the same day returns the first."""
    day = (now or timezone.now()).astimezone(timezone.get_fixed_timezone(0)).date()
    with transaction.atomic(durable=True):
        existing = EvidenceAnchor.objects.filter(day=day).first()
        if existing is not None:
            return existing
        heads = [
            {
                "organization_id": str(head.organization_id),
                "position": head.position,
                "hash": head.head_hash,
            }
            for head in ChainHead.objects.order_by("organization_id")
        ]
        previous = EvidenceAnchor.objects.order_by("-day").first()
        previous_hash = previous.anchor_hash if previous else GENESIS_HASH
        payload = anchor_payload(day=day.isoformat(), heads=heads)
        return EvidenceAnchor.objects.create(
            day=day,
            heads=heads,
            previous_hash=previous_hash,
            anchor_hash=link_hash(previous_hash, payload),
        )
