"""The routing decision of an oversight policy: one pure function of the rules, the item and a
key. The first rule whose conditions hold decides; when none does, the item is reviewed as
before policies existed. Randomness (a rule's `sample`, a sample's audit) is a hash of the key,
so the same key (an Idempotency-Key, a request id) always gets the same decision."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from oversight.rules import MetaCondition, ReviewParams, Rule, When

Outcome = Literal["review", "sample", "auto_approve"]


@dataclass(frozen=True)
class Item:
    confidence: float | None
    specialization_path: tuple[str, ...]  # the slug and its ancestors
    model: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    rule_index: int | None
    rule_name: str
    outcome: Outcome
    audit: bool
    review: ReviewParams | None

    @property
    def reviewed(self) -> bool:
        """Whether a human reviews the item: outcome review, or a sample picked for audit."""
        return self.outcome == "review" or self.audit


NO_RULE = Decision(rule_index=None, rule_name="", outcome="review", audit=False, review=None)


def uniform(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by (key, salt)."""
    digest = hashlib.sha256(f"{key}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: 1 equals 1.0, but true is not 1 (as Python's == says)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def meta_condition_holds(condition: MetaCondition, metadata: dict[str, Any]) -> bool:
    if condition.field not in metadata:
        return False
    if condition.op == "exists":
        return True
    value = metadata[condition.field]
    if condition.op == "eq":
        return json_equal(value, condition.value)
    if condition.op == "in":
        return any(json_equal(value, option) for option in condition.value)
    if not _number(value):
        return False
    return value < condition.value if condition.op == "lt" else value > condition.value


def _matches(when: When, item: Item, key: str, index: int) -> bool:
    """Whether every condition of `when` holds (the sample, which hashes, is checked last)."""
    if when.confidence_lt is not None and (
        item.confidence is None or not item.confidence < when.confidence_lt
    ):
        return False
    if when.confidence_gte is not None and (
        item.confidence is None or not item.confidence >= when.confidence_gte
    ):
        return False
    if when.specialization is not None and when.specialization not in item.specialization_path:
        return False
    if when.model is not None and when.model != item.model:
        return False
    if not all(meta_condition_holds(c, item.metadata) for c in when.metadata):
        return False
    return when.sample is None or uniform(key, f"match:{index}") < when.sample


def decide(*, rules: list[Rule], item: Item, key: str) -> Decision:
    for index, rule in enumerate(rules):
        if not _matches(rule.when, item, key, index):
            continue
        audit = rule.outcome == "sample" and uniform(key, "audit") < rule.audit_rate
        return Decision(
            rule_index=index,
            rule_name=rule.name,
            outcome=rule.outcome,
            audit=audit,
            review=rule.review,
        )
    return NO_RULE


def specialization_path(slug: str) -> tuple[str, ...]:
    """`medicine.radiology` -> ("medicine.radiology", "medicine"): the taxonomy's slugs are
    dotted paths, so a slug names its ancestors."""
    parts = slug.split(".")
    return tuple(".".join(parts[:n]) for n in range(len(parts), 0, -1))
