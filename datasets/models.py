"""Dataset exports: a company's reviewed data as a JSON Lines file in one of the training formats
of datasets/formats.py, written by a background task (datasets/tasks.py) to the default storage."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from marketplace.models import StatusHistory


class Export(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        "queued": {"running", "failed"},
        "running": {"completed", "failed"},
        "completed": set(),
        "failed": set(),
    }
    ACTIVE = ("queued", "running")

    class Format(models.TextChoices):
        SFT = "sft", "SFT (prompt, completion)"
        DPO = "dpo", "DPO / preference (prompt, chosen, rejected)"
        RUBRIC = "rubric", "Rubric scores, per reviewer"
        RAW = "raw", "Raw: every review, annotation and timing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by export_org_created, whose first column it is.
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )  # empty when made with an API key
    created_by_key = models.ForeignKey(
        "marketplace.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    # The validated filters (datasets.schemas.ExportFilters), as given.
    filters = models.JSONField(default=dict, blank=True)
    schema_version = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Progress over the source rows (requests, or reviews for `raw`); `rows` counts lines written.
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(max_length=300, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on every chunk: a running export whose worker died is found by its age.
    progressed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="export_org_created"),
            models.Index(fields=["status", "progressed_at"], name="export_status_progressed"),
        ]

    def __str__(self) -> str:
        return f"{self.format} export {self.pk}"


class ExportStatusChange(StatusHistory):
    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="history")
