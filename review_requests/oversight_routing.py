"""Oversight policies applied to requests being created (issue #17): which policy is in force for
each item, what it decides (`oversight.decide`), and what that changes on the request before the
one bulk insert. Auto-approved items are stored in status `auto_approved`; the rest are reviewed,
with the deciding rule's review parameters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError

from oversight.decide import Decision, Item, decide, specialization_path
from oversight.selectors import PolicyInForce, policy_in_force


def policies_in_force(*, organization_id, items: list[dict]) -> dict[str | None, PolicyInForce]:
    """The policy version in force per name an item gives (None: the default), one query per
    distinct name (none when no item names one and the organization has no default). An unknown
    name raises ValidationError on `policy` (`requests[i].policy` in a batch)."""
    found: dict[str | None, PolicyInForce | None] = {}
    for index, item in enumerate(items):
        name = item.get("policy")
        if name not in found:
            found[name] = policy_in_force(organization_id=organization_id, name=name)
        if name is not None and found[name] is None:
            field = "policy" if len(items) == 1 else f"requests[{index}].policy"
            raise ValidationError(
                {field: f"Unknown oversight policy {name!r}; see GET /api/v1/oversight-policies."}
            )
    return {name: in_force for name, in_force in found.items() if in_force is not None}


def decision_key(*, idempotency_key: str | None, batch: bool, index: int, request_id) -> str:
    """What the decision's randomness is keyed on: the Idempotency-Key (with the item's index in
    a batch), so a replay or a retry of the same call decides the same; else the request's id."""
    if idempotency_key is None:
        return str(request_id)
    return f"{idempotency_key}:{index}" if batch else idempotency_key


def item_decide(*, in_force: PolicyInForce, data: dict, key: str) -> Decision:
    item = Item(
        confidence=data.get("confidence"),
        specialization_path=specialization_path(data["specialization"]),
        model=data.get("model") or "",
        metadata=data.get("metadata") or {},
    )
    return decide(rules=in_force.rules, item=item, key=key)


def decision_fields(*, in_force: PolicyInForce, decision: Decision) -> dict[str, Any]:
    """The request's fields that record the decision (which version and rule, what outcome)."""
    return {
        "policy_version": in_force.version,
        "policy_rule": decision.rule_index,
        "policy_rule_name": decision.rule_name,
        "oversight_outcome": decision.outcome,
        "audit": decision.audit,
    }


def review_overrides(*, decision: Decision, now) -> dict[str, Any]:
    """The deciding rule's review parameters, in the request data's terms, for an item that a
    human reviews (they replace the request's own values)."""
    review = decision.review
    if review is None or not decision.reviewed:
        return {}
    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("reviewers", review.reviewers),
            ("max_hours", review.max_hours),
            ("max_hourly_rate_cents", review.max_hourly_rate_cents),
        )
        if value is not None
    }
    if review.deadline_hours is not None:
        overrides["deadline"] = now + timedelta(hours=review.deadline_hours)
    return overrides


def auto_approved_reason(*, in_force: PolicyInForce, decision: Decision) -> str:
    version = in_force.version
    return (
        f"auto-approved by policy {version.policy.name} v{version.number}, "
        f"rule {decision.rule_name!r} ({decision.outcome})"
    )[:500]
