"""The oversight evidence: one hash chain of entries per organization (records of completed
requests, later events about them, prunings), its head, the daily anchors, and the log of who
watched a workspace."""

from __future__ import annotations

from datetime import UTC

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AppendOnlyError(Exception):
    """An evidence entry was about to be changed or deleted: append a new entry instead."""


def _refuse(name: str):
    raise AppendOnlyError(f"{name} rows are append-only; append a new entry instead.")


class EntryQuerySet(models.QuerySet):
    """Refuses bulk update() and delete(). Only the retention task removes entries, through
    `retention_delete`, and it appends a "pruned" entry saying what it removed. On PostgreSQL a
    trigger refuses UPDATE as well (migration 0002)."""

    def update(self, **kwargs):
        _refuse(self.model.__name__)

    def delete(self):
        _refuse(self.model.__name__)

    def retention_delete(self) -> int:
        """The retention task's delete (evidence.services.evidence_retention_prune)."""
        deleted, _ = models.QuerySet.delete(self)
        return deleted


class EvidenceEntry(models.Model):
    class Kind(models.TextChoices):
        RECORD = "record", "Oversight record"
        DISPUTE_OUTCOME = "dispute_outcome", "Dispute outcome"
        REWORK_COMPLETED = "rework_completed", "Rework after a dispute"
        PRUNED = "pruned", "Pruned past retention"

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    position = models.PositiveBigIntegerField()  # 1, 2, ... within the organization's chain
    kind = models.CharField(max_length=32, choices=Kind.choices)
    review_request_id = models.UUIDField(null=True, blank=True, db_index=True)
    schema_version = models.PositiveSmallIntegerField(default=1)
    body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["organization", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "position"], name="evidence_entry_position_unique"
            ),
            models.UniqueConstraint(
                fields=["review_request_id"],
                condition=Q(kind="record"),
                name="evidence_one_record_per_request",
            ),
        ]
        verbose_name_plural = "evidence entries"

    def __str__(self) -> str:
        return f"{self.organization_id}#{self.position} {self.kind}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            _refuse(type(self).__name__)
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        _refuse(type(self).__name__)

    def hashed_fields(self) -> dict:
        """What the entry's hash covers (with the previous hash before it)."""
        return {
            "organization_id": str(self.organization_id),
            "position": self.position,
            "kind": self.kind,
            "review_request_id": str(self.review_request_id) if self.review_request_id else None,
            "schema_version": self.schema_version,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "body": self.body,
        }


class ChainHead(models.Model):
    """The last position and hash of an organization's chain: locked to append, so positions
    never fork, and compared by evidence_verify so a removed tail is seen."""

    organization = models.OneToOneField(
        "marketplace.Organization", on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    position = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)


class EvidenceAnchor(models.Model):
    """Once a day: one hash over every chain's head (and the previous anchor), to be written
    down outside Inloop (exported from the console), so a rewritten chain no longer matches."""

    day = models.DateField(unique=True)
    heads = models.JSONField()
    previous_hash = models.CharField(max_length=64)
    anchor_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]


class WatchSession(models.Model):
    """A company member or operator opened a workspace socket (review_requests' signal)."""

    review_request_id = models.UUIDField(db_index=True)
    assignment_id = models.UUIDField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    role = models.CharField(max_length=16)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "id"]
