"""`Idempotency-Key` for create calls: (organization, endpoint, key) + a hash of the body, kept
24 hours. A replay returns the stored status and body; another body under the same key is a 409.

Exactly-once under concurrency: the record is inserted FIRST, in the same transaction as the
objects it creates, under the unique constraint. A second request with the same new key blocks
on that unique index (PostgreSQL) or on the write lock (SQLite, immediate transactions) until the
first commits, then fails its insert and reads the finished record. If the first rolls back, the
second simply goes ahead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from review_requests.models import IdempotencyRecord

TTL = timedelta(hours=24)


class IdempotencyConflict(Exception):
    """The key was used with a different body."""


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def body_hash(raw_body: bytes) -> str:
    """Hash of the JSON body in canonical form, so key order and whitespace do not matter."""
    try:
        canonical = json.dumps(
            json.loads(raw_body or b"null"), sort_keys=True, separators=(",", ":")
        ).encode()
    except ValueError:
        canonical = raw_body
    return hashlib.sha256(canonical).hexdigest()


def _replay(record: IdempotencyRecord, digest: str) -> Outcome:
    if record.body_hash != digest:
        raise IdempotencyConflict
    return Outcome(status=record.response_status or 200, body=record.response_body, replayed=True)


def idempotent_call(
    *,
    organization,
    endpoint: str,
    key: str,
    digest: str,
    action: Callable[[], tuple[int, Any]],
) -> Outcome:
    """Run `action` (returns status, JSON body) at most once per (organization, endpoint, key)
    within 24 h. Runs in one transaction with the record; `action`'s exceptions roll both back."""
    for _attempt in range(3):
        existing = (
            IdempotencyRecord.objects.filter(organization=organization, endpoint=endpoint, key=key)
            .only("body_hash", "response_status", "response_body", "created_at")
            .first()
        )
        if existing is not None:
            if existing.created_at > timezone.now() - TTL:
                return _replay(existing, digest)
            # Older than 24 h: the key is free again (the periodic prune may not have run yet).
            IdempotencyRecord.objects.filter(
                pk=existing.pk, created_at=existing.created_at
            ).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    organization=organization, endpoint=endpoint, key=key, body_hash=digest
                )
                status, body = action()
                record.response_status = status
                record.response_body = body
                record.save(update_fields=["response_status", "response_body"])
            return Outcome(status=status, body=body, replayed=False)
        except IntegrityError:
            # Someone else inserted the key first and has committed by now: read their result.
            # (An IntegrityError raised by `action` itself ends up here too; the loop re-checks.)
            continue
    existing = IdempotencyRecord.objects.filter(
        organization=organization, endpoint=endpoint, key=key
    ).first()
    if existing is None:
        raise RuntimeError("idempotency record vanished while retrying")
    return _replay(existing, digest)


def idempotency_prune(*, now=None) -> int:
    """Delete records older than 24 h. Returns how many."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
