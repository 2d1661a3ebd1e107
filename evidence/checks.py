"""System checks of the evidence app."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# EU AI Act Art. 19(1) and 26(6): logs kept for at least six months.
RETENTION_MINIMUM_DAYS = 183


def retention_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    days = settings.EVIDENCE_RETENTION_DAYS
    if not isinstance(days, int) or days < RETENTION_MINIMUM_DAYS:
        return [
            checks.Error(
                f"EVIDENCE_RETENTION_DAYS is {days!r}: oversight evidence must be kept at least "
                f"{RETENTION_MINIMUM_DAYS} days (six months, EU AI Act Art. 19 and 26(6)).",
                id="evidence.E001",
            )
        ]
    return []


def register() -> None:
    checks.register(retention_check, checks.Tags.compatibility)
