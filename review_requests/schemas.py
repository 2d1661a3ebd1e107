"""Request and response schemas of the review-request API (contract/API.md). They only validate:
rules that need the database (the specialization exists) live in services."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from marketplace.schema_types import JsonObject, Line, Text, refusal
from marketplace.textnorm import TextRefused, json_clean, text_clean

METADATA_MAX_BYTES = 16 * 1024
BATCH_MAX = 100
CONTENT_TYPES = ("text", "markdown", "code", "json", "chat")
REQUEST_STATUSES = (
    "queued",
    "in_review",
    "completed",
    "cancelled",
    "expired",
    "disputed",
    "auto_approved",
)


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


EXAMPLE_REQUEST = {
    "title": "Radiology report summary, case 1042",
    "specialization": "medicine.radiology",
    "content": {"type": "text", "body": "No acute cardiopulmonary abnormality."},
    "prompt": "Summarize the chest X-ray report for the patient.",
    "model": "acme-med-7b",
    "guidelines": "Check **laterality** and every measurement.",
    "rubric": [{"key": "accuracy", "label": "Accuracy", "scale": 5}],
    "max_hours": 0.5,
    "max_hourly_rate_cents": 15000,
    "reviewers": 1,
    "metadata": {"case": "1042"},
}


class _Strict(BaseModel):
    # Unknown fields are refused: a typo (`max_hour`) must not silently fall back to a default.
    # Plain pydantic models, not ninja.Schema: inputs are JSON, never ORM objects, and Schema's
    # per-object getter wrapper cost half of a batch of 100.
    model_config = ConfigDict(extra="forbid")


class ChatMessageIn(_Strict):
    role: Line = Field(min_length=1, max_length=50)
    content: Text


class _Missing:
    """The default of a field that must be told apart from an explicit null (a json body)."""


def _body_for(kind: str | None, value: Any) -> Any:
    """An output's body checked against its type (the rules of the contract's `content`)."""
    if isinstance(value, _Missing):
        raise PydanticCustomError("missing", "Field required")
    if kind in ("text", "markdown", "code"):
        if not isinstance(value, str):
            raise ValueError(f"must be a string for content of type {kind}")
        try:
            value = text_clean(value, multiline=True)
        except TextRefused as exc:
            raise refusal(exc) from exc
        if not value.strip():
            raise ValueError("must not be empty")
        return value
    if kind == "chat":
        if not isinstance(value, list) or not value:
            raise ValueError('must be a non-empty list of {"role", "content"} for chat')
        return [_chat_message(index, item) for index, item in enumerate(value)]
    # json: any JSON value (null included), its strings cleaned and its numbers finite.
    try:
        return json_clean(value)
    except TextRefused as exc:
        raise refusal(exc) from exc


class CandidateIn(_Strict):
    """One output of a comparison: any of the plain content types, with the same body rules."""

    id: Line = Field(min_length=1, max_length=64)
    type: Literal["text", "markdown", "code", "json", "chat"]
    body: Any = Field(
        default_factory=_Missing,
        validate_default=True,
        description="As the body of content of the same type.",
    )
    language: Line | None = Field(default=None, max_length=50, description="For code.")
    model: Line | None = Field(
        default=None,
        max_length=200,
        description="The model that produced it: kept for the company, hidden from reviewers "
        "while blind_models.",
    )

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    @field_validator("body", mode="before")
    @classmethod
    def _body_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        return _body_for(info.data.get("type"), value)

    @field_validator("language")
    @classmethod
    def _language_only_for_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("type") != "code":
            raise ValueError("is only allowed for content of type code")
        return value


class ContentIn(_Strict):
    type: Literal["text", "markdown", "code", "json", "chat", "comparison"]
    body: Any = Field(
        default_factory=_Missing,
        validate_default=True,
        description=(
            "A string for text, markdown and code; any JSON value for json; "
            'a list of {"role", "content"} for chat. Not used by comparison.'
        ),
    )
    language: Line | None = Field(
        default=None, max_length=50, description="Optional, for code: e.g. `python`."
    )
    mode: Literal["pairwise", "rank"] | None = Field(
        default=None,
        validate_default=True,
        description="Comparison only, required: pairwise (exactly 2 candidates) or rank.",
    )
    candidates: list[CandidateIn] | None = Field(
        default=None,
        min_length=2,
        max_length=4,
        validate_default=True,
        description="Comparison only, required: 2-4 outputs with unique ids.",
    )
    blind_models: bool | None = Field(
        default=None,
        description="Comparison only, default true: reviewers do not see the candidates' models.",
    )

    @field_validator("body", mode="before")
    @classmethod
    def _body_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind == "comparison":
            if not isinstance(value, _Missing):
                raise ValueError("is not used by a comparison: each output goes in candidates")
            return None
        return _body_for(kind, value)

    @field_validator("language")
    @classmethod
    def _language_only_for_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("type") != "code":
            raise ValueError("is only allowed for content of type code")
        return value

    @field_validator("mode")
    @classmethod
    def _mode_for_comparison(cls, value: str | None, info: ValidationInfo) -> str | None:
        comparison = info.data.get("type") == "comparison"
        if comparison and value is None:
            raise PydanticCustomError("missing", "is required for a comparison: pairwise or rank")
        if not comparison and value is not None:
            raise ValueError("is only allowed for content of type comparison")
        return value

    @field_validator("candidates", mode="before")
    @classmethod
    def _candidates_for_comparison(cls, value: Any, info: ValidationInfo) -> Any:
        comparison = info.data.get("type") == "comparison"
        if comparison and value is None:
            raise PydanticCustomError("missing", "is required for a comparison: 2 to 4 outputs")
        if not comparison and value is not None:
            raise ValueError("is only allowed for content of type comparison")
        return value

    @field_validator("candidates")
    @classmethod
    def _candidates_fit_mode(
        cls, value: list[CandidateIn] | None, info: ValidationInfo
    ) -> list[CandidateIn] | None:
        if value is None:
            return None
        seen: set[str] = set()
        for candidate in value:
            if candidate.id in seen:
                raise ValueError(f"id {candidate.id!r} appears twice; candidate ids must be unique")
            seen.add(candidate.id)
        if info.data.get("mode") == "pairwise" and len(value) != 2:
            raise ValueError(f"a pairwise comparison takes exactly 2 candidates, not {len(value)}")
        return value

    @field_validator("blind_models")
    @classmethod
    def _blind_models_for_comparison(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("type") != "comparison":
            raise ValueError("is only allowed for content of type comparison")
        return value


def _chat_message(index: int, item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        raise ValueError(f'[{index}] must be an object {{"role", "content"}}')
    try:
        return ChatMessageIn.model_validate(item).model_dump()
    except PydanticValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
        )
        path = f"[{index}]{where}{first.get('ctx', {}).get('json_path', '')}"
        raise PydanticCustomError(
            "chat_message",
            f'must be {{"role": string, "content": string}}: {first["msg"]}',
            {"json_path": path},
        ) from exc


class RubricItemIn(_Strict):
    key: Line = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    label: Line = Field(min_length=1, max_length=200)
    scale: int = Field(default=5, ge=2, le=10)


class ReviewRequestIn(_Strict):
    title: Line = Field(min_length=1, max_length=200)
    specialization: Line = Field(
        min_length=1,
        max_length=100,
        description="A slug from GET /api/v1/specializations, e.g. medicine.radiology",
    )
    content: ContentIn
    prompt: Text | None = Field(default=None, max_length=200_000)
    model: Line | None = Field(default=None, max_length=200)
    guidelines: Text | None = Field(default=None, max_length=100_000)
    rubric: list[RubricItemIn] | None = Field(default=None, max_length=50)
    max_hours: float = Field(ge=0.25, le=40, allow_inf_nan=False)
    max_hourly_rate_cents: int | None = Field(default=None, ge=1, le=10_000_000)
    reviewers: int = Field(default=1, ge=1, le=5)
    blind: bool | None = Field(
        default=None,
        description="Reviewers see nothing of each other's work until all have submitted; "
        "default true when reviewers > 1",
    )
    four_eyes: bool = Field(
        default=False,
        description="At least 2 independent (blind) reviewers; a verdict disagreement always "
        "goes to an adjudicator",
    )
    deadline: AwareDatetime | None = None
    callback_url: Line | None = Field(default=None, max_length=2000)
    metadata: JsonObject | None = None
    policy: Line | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        description="An oversight policy's name (GET /api/v1/oversight-policies); "
        "default: the organization's default policy, if it has one.",
    )
    confidence: float | None = Field(
        default=None,
        strict=True,  # a number, not `false`
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="The model's confidence in this output, 0-1, for the policy's rules.",
    )

    # The model's own `model_` namespace warning does not apply: `model` is the contract's name.
    model_config = ConfigDict(
        extra="forbid",
        protected_namespaces=(),
        json_schema_extra={"examples": [EXAMPLE_REQUEST]},
    )

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("rubric")
    @classmethod
    def _rubric_keys_unique(cls, value: list[RubricItemIn] | None) -> list[RubricItemIn] | None:
        if value:
            seen: set[str] = set()
            for item in value:
                if item.key in seen:
                    raise ValueError(f"key {item.key!r} appears twice; keys must be unique")
                seen.add(item.key)
        return value

    @field_validator("four_eyes")
    @classmethod
    def _four_eyes_needs_two_blind(cls, value: bool, info: ValidationInfo) -> bool:
        if not value:
            return value
        if (info.data.get("reviewers") or 1) < 2:
            raise ValueError("needs at least 2 reviewers")
        if info.data.get("blind") is False:
            raise ValueError("reviews are always blind with four_eyes; leave blind out")
        return value

    @field_validator("deadline")
    @classmethod
    def _deadline_in_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            # Stored in UTC: a time a few hours from year 1 or 9999 has no UTC equivalent.
            value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("is out of range once converted to UTC") from exc
        if value <= timezone.now():
            raise ValueError("must be in the future")
        return value

    @field_validator("callback_url")
    @classmethod
    def _callback_url_safe(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from review_requests.webhooks import callback_url_validate

        try:
            callback_url_validate(value)
        except DjangoValidationError as exc:
            raise ValueError(" ".join(exc.messages)) from exc
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(compact_json(value).encode()) > METADATA_MAX_BYTES:
            raise ValueError("must be at most 16 KiB serialized")
        return value


class BatchIn(_Strict):
    requests: list[ReviewRequestIn] = Field(min_length=1, max_length=BATCH_MAX)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"requests": [EXAMPLE_REQUEST]}]}
    )


# Responses ---------------------------------------------------------------------------------


# Plain pydantic models, not ninja.Schema, for the same reason as the inputs: ninja validates
# every response against them, and with Schema's per-object getter a page of 100 (two
# assignments each) cost 2.7-3.7x as much: 24-31 ms against 6.5-11.5 ms at load 10-11 on this
# 2-core machine (bench/response_check.py, two runs).


class _Open(BaseModel):
    # Responses pass through whatever the one serializer adds (serializers.py).
    model_config = ConfigDict(extra="allow")


class ExpertRefOut(_Open):
    id: str
    display_name: str


class AssignmentOut(_Open):
    id: str
    status: Literal["accepted", "in_progress", "submitted", "released", "disputed", "resolved"]
    expert: ExpertRefOut
    rate_cents: int
    billed_seconds: int
    max_seconds: int
    cost_cents: int
    accepted_at: str | None
    submitted_at: str | None
    adjudicator: bool = False


class OversightOut(_Open):
    policy: str
    policy_version: int
    rule: str | None
    outcome: Literal["review", "sample", "auto_approve"]


class ReviewRequestOut(_Open):
    id: str
    status: Literal[
        "queued", "in_review", "completed", "cancelled", "expired", "disputed", "auto_approved"
    ]
    title: str
    specialization: str
    created_at: str
    updated_at: str | None
    completed_at: str | None
    deadline: str | None
    reviewers: int
    blind: bool = False
    four_eyes: bool = False
    adjudication_wanted: bool = False
    max_hours: float
    max_hourly_rate_cents: int | None
    waiting_for_funds: bool
    metadata: dict[str, Any]
    assignments: list[AssignmentOut]
    result: dict[str, Any] | None = None
    cost_cents: int
    currency: str
    confidence: float | None = None
    audit: bool = False
    oversight: OversightOut | None = None


class ReviewRequestListOut(BaseModel):
    data: list[ReviewRequestOut]
    next_cursor: str | None


class BatchOut(BaseModel):
    data: list[ReviewRequestOut]


class OfferRequestOut(_Open):
    id: str
    status: str
    title: str
    specialization: str
    reviewers: int
    max_hours: float


class OfferOut(_Open):
    id: str
    review_request: OfferRequestOut
    rate_cents: int
    expires_at: str
    reason: str
    max_earning_cents: int


class OfferListOut(BaseModel):
    data: list[OfferOut]


class AcceptOut(BaseModel):
    assignment_id: str
    workspace_url: str


class DeclineOut(BaseModel):
    id: str
    status: str
