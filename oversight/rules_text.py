"""Rules in words, pure: one line per rule ("confidence at least 0.92 → sample, 5% audited"), and
what changed between two versions of a policy, as sentences a compliance reviewer reads.

Works on the stored form of rules (the dicts a PolicyVersion's `rules` holds, as
`oversight.rules.Rule.model_dump()` writes them), so old versions read without re-validation."""

from __future__ import annotations

import json
from typing import Any

OUTCOME_WORDS = {
    "review": "review",
    "sample": "sample",
    "auto_approve": "auto-approve",
}
# (path in the rule dict, label) in the order a person reads a rule.
FIELDS: list[tuple[tuple[str, ...], str]] = [
    (("when", "confidence_lt"), "confidence below"),
    (("when", "confidence_gte"), "confidence at least"),
    (("when", "specialization"), "specialization"),
    (("when", "model"), "model"),
    (("when", "metadata"), "metadata"),
    (("when", "sample"), "random share"),
    (("outcome",), "outcome"),
    (("audit_rate",), "audit rate"),
    (("review", "reviewers"), "reviewers"),
    (("review", "max_hours"), "max hours"),
    (("review", "max_hourly_rate_cents"), "rate cap"),
    (("review", "deadline_hours"), "deadline"),
]
OP_WORDS = {"eq": "=", "in": "in", "exists": "exists", "lt": "<", "gt": ">"}


def _get(rule: dict, path: tuple[str, ...]) -> Any:
    value: Any = rule
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def metadata_text(conditions: list[dict]) -> str:
    parts = []
    for condition in conditions or []:
        op = condition.get("op", "eq")
        if op == "exists":
            parts.append(f"{condition.get('field')} exists")
        else:
            value = json.dumps(condition.get("value"), ensure_ascii=False)
            parts.append(f"{condition.get('field')} {OP_WORDS.get(op, op)} {value}")
    return " and ".join(parts)


def value_text(path: tuple[str, ...], value: Any) -> str:
    """One field's value in words; "—" when it is not set."""
    if value is None or value == [] or value == "":
        return "—"
    name = path[-1]
    if name == "metadata":
        return metadata_text(value)
    if name == "outcome":
        return OUTCOME_WORDS.get(value, str(value))
    if name in ("sample", "audit_rate"):
        return _percent(float(value))
    if name == "max_hourly_rate_cents":
        return f"${int(value) / 100:,.2f}/h"
    if name == "deadline_hours":
        return f"{value:g} h"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def conditions_text(rule: dict) -> str:
    """What a rule matches, in words ("every item" when it has no condition)."""
    parts = []
    for path, label in FIELDS:
        if path[0] != "when":
            continue
        value = _get(rule, path)
        if value is None or value == []:
            continue
        if path[-1] == "metadata":
            parts.append(metadata_text(value))
        elif path[-1] == "sample":
            parts.append(f"a random {_percent(float(value))} of items")
        else:
            parts.append(f"{label} {value_text(path, value)}")
    return " and ".join(parts) or "every item"


def outcome_text(rule: dict) -> str:
    outcome = rule.get("outcome", "review")
    words = OUTCOME_WORDS.get(outcome, outcome)
    if outcome == "sample":
        words += f", {_percent(float(rule.get('audit_rate') or 0))} audited"
    review = rule.get("review") or {}
    extras = []
    for (_, key), label in FIELDS[-4:]:
        value = review.get(key)
        if value is None:
            continue
        shown = value_text((key,), value)
        extras.append(f"{shown} {label}" if key == "reviewers" else f"{label} {shown}")
    if extras and outcome != "auto_approve":
        words += " (" + ", ".join(extras) + ")"
    return words


def rule_text(rule: dict) -> str:
    return f"{conditions_text(rule)} → {outcome_text(rule)}"


def rules_diff(old: list[dict], new: list[dict]) -> list[str]:
    """What changed from `old` to `new`, one sentence each: rules added, removed, reordered (a
    rule is known by its name, unique within a version), and each changed field of a rule kept."""
    old_by_name = {rule["name"]: rule for rule in old}
    new_by_name = {rule["name"]: rule for rule in new}
    changes: list[str] = []
    for index, rule in enumerate(new, start=1):
        if rule["name"] not in old_by_name:
            changes.append(f"Added rule {index} “{rule['name']}”: {rule_text(rule)}.")
    for rule in old:
        if rule["name"] not in new_by_name:
            changes.append(f"Removed rule “{rule['name']}”: {rule_text(rule)}.")
    kept_old = [rule["name"] for rule in old if rule["name"] in new_by_name]
    kept_new = [rule["name"] for rule in new if rule["name"] in old_by_name]
    if kept_old != kept_new:
        changes.append("Order changed: " + ", ".join(kept_old) + " → " + ", ".join(kept_new) + ".")
    for name in kept_new:
        before, after = old_by_name[name], new_by_name[name]
        fields = [
            f"{label} {value_text(path, _get(before, path))} → {value_text(path, _get(after, path))}"
            for path, label in FIELDS
            if _normal(_get(before, path)) != _normal(_get(after, path))
        ]
        if fields:
            changes.append(f"“{name}”: " + "; ".join(fields) + ".")
    return changes


def _normal(value: Any) -> Any:
    """Unset, empty list and empty string are one thing: not set."""
    return None if value in (None, [], "") else value
