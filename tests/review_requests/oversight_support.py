"""Stored items of an oversight policy, made directly (as the create path leaves them), for the
figures and simulator tests. Not a test module."""

from __future__ import annotations

from datetime import UTC, datetime

from oversight.models import Policy, PolicyVersion
from review_requests.models import ReviewRequest
from tests.factories import ReviewRequestFactory, specialization


def policy_with_versions(organization, name: str, *rule_lists: list[dict]) -> Policy:
    policy = Policy.objects.create(organization=organization, name=name)
    for number, rules in enumerate(rule_lists, start=1):
        PolicyVersion.objects.create(policy=policy, number=number, rules=rules)
    return policy


def stored_item(
    *,
    organization,
    version: PolicyVersion | None,
    at: datetime,
    outcome: str = "review",
    rule: str = "",
    audit: bool = False,
    verdict: str | None = None,
    confidence: float | None = None,
    slug: str = "medicine.radiology",
    cost_cents: int = 0,
    reviewers: int = 1,
    metadata: dict | None = None,
    model_name: str = "",
) -> ReviewRequest:
    """One stored item: its decision, and if `verdict`, completed with that verdict."""
    status = ReviewRequest.Status.QUEUED
    if outcome == "auto_approve" or (outcome == "sample" and not audit):
        status = "auto_approved"
    if verdict:
        status = ReviewRequest.Status.COMPLETED
    return ReviewRequestFactory(
        organization=organization,
        policy_version=version,
        policy_rule_name=rule,
        policy_rule=None,
        oversight_outcome=outcome if version is not None else "",
        audit=audit,
        confidence=confidence,
        specialization=specialization(slug),
        status=status,
        result={"verdict": verdict, "summary": ""} if verdict else None,
        cost_cents=cost_cents,
        reviewers=reviewers,
        metadata=metadata or {},
        model_name=model_name,
        created_at=at,
    )


def day(month: int, date: int, hour: int = 12) -> datetime:
    return datetime(2026, month, date, hour, tzinfo=UTC)
