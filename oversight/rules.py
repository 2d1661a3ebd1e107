"""The rules of an oversight policy, checked by pydantic: what a PolicyVersion stores and what
`oversight.decide.decide()` evaluates. A policy is an ordered list; the first rule whose `when`
holds decides the item's outcome."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from marketplace.schema_types import JsonValue, Line

RULES_MAX = 50
META_CONDITIONS_MAX = 20
OUTCOMES = ("review", "sample", "auto_approve")

# strict: a number, never `false` read as 0.
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class _Strict(BaseModel):
    # A typo (`confidence_lte`) must be refused, never read as "no condition".
    model_config = ConfigDict(extra="forbid", frozen=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class MetaCondition(_Strict):
    """A condition on one top-level key of the request's `metadata`: `eq` (same JSON value),
    `in` (equal to one of a list), `exists` (the key is present), `lt`/`gt` (numbers)."""

    field: Line = Field(min_length=1, max_length=100)
    op: Literal["eq", "in", "exists", "lt", "gt"]
    value: JsonValue = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> MetaCondition:
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError(f"metadata condition on {self.field!r}: 'in' needs a list value")
        if self.op in ("lt", "gt") and not (_is_number(self.value) and math.isfinite(self.value)):
            raise ValueError(
                f"metadata condition on {self.field!r}: {self.op!r} needs a finite number"
            )
        if self.op == "exists" and self.value is not None:
            raise ValueError(f"metadata condition on {self.field!r}: 'exists' takes no value")
        return self


class When(_Strict):
    """Every given condition must hold; an empty When matches everything. An item without a
    confidence never matches a confidence condition."""

    confidence_lt: Share | None = None
    confidence_gte: Share | None = None
    specialization: Line | None = Field(default=None, min_length=1, max_length=100)
    model: Line | None = Field(default=None, min_length=1, max_length=200)
    metadata: list[MetaCondition] = Field(default_factory=list, max_length=META_CONDITIONS_MAX)
    sample: Share | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class ReviewParams(_Strict):
    """What a review decided by this rule asks for, instead of the request's own values."""

    reviewers: int | None = Field(default=None, ge=1, le=5, strict=True)
    max_hours: float | None = Field(default=None, ge=0.25, le=40, allow_inf_nan=False, strict=True)
    max_hourly_rate_cents: int | None = Field(default=None, ge=1, le=10_000_000, strict=True)
    deadline_hours: float | None = Field(
        default=None, gt=0, le=24 * 365, allow_inf_nan=False, strict=True
    )


class Rule(_Strict):
    name: Line = Field(min_length=1, max_length=80)
    when: When = Field(default_factory=When)
    outcome: Literal["review", "sample", "auto_approve"]
    # Only for "sample": the share of matched items sent to review as an audit.
    audit_rate: Share = 0
    review: ReviewParams | None = None

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _audit_only_for_sample(self) -> Rule:
        if self.audit_rate and self.outcome != "sample":
            raise ValueError(f"rule {self.name!r}: audit_rate applies only to outcome 'sample'")
        if self.review is not None and self.outcome == "auto_approve":
            raise ValueError(f"rule {self.name!r}: an auto_approve rule sends nothing to review")
        return self


def _names_unique(rules: list[Rule]) -> list[Rule]:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"rule name {rule.name!r} appears twice; names must be unique")
        seen.add(rule.name)
    return rules


Rules = Annotated[
    list[Rule], Field(min_length=1, max_length=RULES_MAX), AfterValidator(_names_unique)
]
RULES_ADAPTER: TypeAdapter[list[Rule]] = TypeAdapter(Rules)


def rules_parse(raw: Any) -> list[Rule]:
    """Validated rules from JSON data (a PolicyVersion's `rules`, an API body); raises
    pydantic.ValidationError."""
    return RULES_ADAPTER.validate_python(raw)


def rules_dump(rules: list[Rule]) -> list[dict[str, Any]]:
    """The JSON a PolicyVersion stores: every field, defaults included, so a stored version
    reads the same whatever defaults a later release has."""
    return RULES_ADAPTER.dump_python(rules, mode="json")
