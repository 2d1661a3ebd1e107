"""Oversight policies: an organization's named, versioned lists of rules that decide, item by
item, whether a human reviews a model's output (issue #17). A version is never edited: a change
is a new version, so every stored request can name the exact rules that decided it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

POLICY_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
policy_name_validator = RegexValidator(
    POLICY_NAME_PATTERN,
    "A policy name is 1-80 lowercase letters, digits, '-' or '_', starting with a letter or digit.",
)


class Policy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="oversight_policies"
    )
    name = models.CharField(max_length=80, validators=[policy_name_validator])
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="policy_name_unique"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="policy_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def current_version(self) -> PolicyVersion | None:
        """The version in force: the highest number."""
        return self.versions.order_by("-number").first()


class PolicyVersion(models.Model):
    """One immutable list of rules (validated by oversight.rules before it is stored)."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField()
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} v{self.number}"


class OversightSettings(models.Model):
    """An organization's oversight switches; no row means every default (all off)."""

    organization = models.OneToOneField(
        "marketplace.Organization",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="oversight_settings",
    )
    # Send `review_request.auto_approved` events (batched, to each item's callback_url).
    auto_approved_webhook = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "oversight settings"
