"""Reads of the evidence app: recomputing chains (evidence_verify), a request's entries and the
exports built from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from evidence.canonical import GENESIS_HASH, link_hash
from evidence.models import ChainHead, EvidenceAnchor, EvidenceEntry
from evidence.records import SCHEMA_VERSION

EXPORT_SCHEMA = "inloop.evidence.export"
HASH_RULE = (
    "entry_hash = sha256(previous_hash + canonical_json(entry)), where entry is the object of "
    "organization_id, position, kind, review_request_id, schema_version, created_at and body, "
    "and canonical_json sorts keys, has no whitespace and is UTF-8"
)


@dataclass(frozen=True)
class ChainCheck:
    organization_id: object
    entries: int
    head_position: int
    head_hash: str
    broken: str | None  # the first break, named; None when the chain holds

    @property
    def ok(self) -> bool:
        return self.broken is None


def _first_link_problem(entry: EvidenceEntry) -> str | None:
    """The first surviving entry links to the genesis hash, or to what a pruning deleted."""
    if entry.position == 1:
        if entry.previous_hash != GENESIS_HASH:
            return "links to something other than the start of the chain"
        return None
    pruned = EvidenceEntry.objects.filter(
        organization_id=entry.organization_id,
        kind=EvidenceEntry.Kind.PRUNED,
        body__through_position=entry.position - 1,
    ).first()
    if pruned is None:
        return f"entries 1-{entry.position - 1} are missing and no pruned entry accounts for them"
    if pruned.body.get("last_hash") != entry.previous_hash:
        return "does not link to the last entry its pruning deleted"
    return None


def _entry_name(entry: EvidenceEntry) -> str:
    return (
        f"organization {entry.organization_id}, entry #{entry.position} "
        f"(id {entry.pk}, {entry.kind})"
    )


def chain_verify(*, organization_id) -> ChainCheck:
    """Recomputes every hash of the chain in position order and checks the links, the first
    entry's start (genesis or a pruning) and that the head names the last entry."""
    previous: EvidenceEntry | None = None
    count = 0
    broken = None
    chain = EvidenceEntry.objects.filter(organization_id=organization_id).order_by("position")
    for entry in chain.iterator(chunk_size=500):
        count += 1
        problem = None
        if previous is None:
            problem = _first_link_problem(entry)
        elif entry.position != previous.position + 1:
            problem = f"entries {previous.position + 1}-{entry.position - 1} are missing"
        elif entry.previous_hash != previous.entry_hash:
            problem = f"does not link to entry #{previous.position}"
        if problem is None and link_hash(entry.previous_hash, entry.hashed_fields()) != (
            entry.entry_hash
        ):
            problem = "its content does not match its hash (changed after it was written)"
        if problem is not None:
            broken = f"{_entry_name(entry)}: {problem}"
            break
        previous = entry
    head = ChainHead.objects.filter(organization_id=organization_id).first()
    head_position = head.position if head else 0
    head_hash = head.head_hash if head else GENESIS_HASH
    if broken is None:
        last_position = previous.position if previous else 0
        last_hash = previous.entry_hash if previous else GENESIS_HASH
        if (head_position, head_hash) != (last_position, last_hash):
            broken = (
                f"organization {organization_id}: the chain ends at entry #{last_position} "
                f"but its head says #{head_position} (entries removed from the end?)"
            )
    return ChainCheck(organization_id, count, head_position, head_hash, broken)


def anchors_verify() -> str | None:
    """The anchors link to each other, and every anchored head that still exists has the
    hash the anchor wrote down (a chain rewritten with fresh hashes no longer matches)."""
    previous_hash = GENESIS_HASH
    for anchor in EvidenceAnchor.objects.order_by("day"):
        payload = {"day": anchor.day.isoformat(), "heads": anchor.heads}
        if anchor.previous_hash != previous_hash or anchor.anchor_hash != link_hash(
            previous_hash, payload
        ):
            return f"anchor of {anchor.day}: its hash does not match its content or its predecessor"
        for head in anchor.heads:
            entry = EvidenceEntry.objects.filter(
                organization_id=head["organization_id"], position=head["position"]
            ).first()
            if entry is not None and entry.entry_hash != head["hash"]:
                return (
                    f"organization {head['organization_id']}, entry #{head['position']}: "
                    f"its hash differs from the one anchored on {anchor.day}"
                )
        previous_hash = anchor.anchor_hash
    return None


def chain_organization_ids(*, organization_id=None) -> list:
    if organization_id is not None:
        return [organization_id]
    heads = set(ChainHead.objects.values_list("organization_id", flat=True))
    entries = set(
        EvidenceEntry.objects.order_by().values_list("organization_id", flat=True).distinct()
    )
    return sorted(heads | entries, key=str)


def entries_for_request(*, organization, review_request_id) -> list[EvidenceEntry]:
    """The request's entries in chain order; 404 when it has no record in this organization
    (another organization's request is a 404 too)."""
    entries = list(
        EvidenceEntry.objects.filter(
            organization=organization, review_request_id=review_request_id
        ).order_by("position")
    )
    if not entries:
        raise Http404("No evidence record for this request yet.")
    return entries


def entries_for_period(*, organization, since: datetime, until: datetime) -> QuerySet:
    return EvidenceEntry.objects.filter(
        organization=organization, created_at__gte=since, created_at__lt=until
    ).order_by("position")


def entry_to_export(entry: EvidenceEntry) -> dict[str, Any]:
    return {
        **entry.hashed_fields(),
        "previous_hash": entry.previous_hash,
        "entry_hash": entry.entry_hash,
    }


def latest_anchor() -> EvidenceAnchor | None:
    return EvidenceAnchor.objects.order_by("-day").first()


def anchor_to_export(anchor: EvidenceAnchor | None) -> dict[str, Any] | None:
    if anchor is None:
        return None
    return {
        "day": anchor.day.isoformat(),
        "heads": anchor.heads,
        "previous_hash": anchor.previous_hash,
        "anchor_hash": anchor.anchor_hash,
    }


def evidence_export(*, organization, entries: list[EvidenceEntry], scope: dict) -> dict[str, Any]:
    """The JSON export (schema-versioned): the entries with their hashes, the chain's head and
    the latest daily anchor, and the rule to recompute them."""
    head = ChainHead.objects.filter(organization=organization).first()
    return {
        "schema_name": EXPORT_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "exported_at": timezone.now().isoformat(),
        "organization": {"id": str(organization.pk), "name": organization.name},
        "scope": scope,
        "hash_rule": HASH_RULE,
        "chain_head": {
            "position": head.position if head else 0,
            "hash": head.head_hash if head else GENESIS_HASH,
        },
        "latest_anchor": anchor_to_export(latest_anchor()),
        "entries": [entry_to_export(entry) for entry in entries],
    }


def anchors_list(*, limit: int = 60) -> list[EvidenceAnchor]:
    return list(EvidenceAnchor.objects.order_by("-day")[:limit])
