"""Schemas of the exports API (docs/contract/exports.md). They only validate: rules that need the
database (the specialization exists, the organization's running exports) live in services."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from marketplace.schema_types import Instant, Line

FORMATS = ("sft", "dpo", "rubric", "raw")
FILTER_STATUSES = ("completed", "disputed")
EXPORT_STATUSES = ("queued", "running", "completed", "failed")


class _Strict(BaseModel):
    # Unknown fields are refused: a typo (`agrement_min`) must not export everything.
    model_config = ConfigDict(extra="forbid")


class ExportFiltersIn(_Strict):
    completed_after: Instant | None = Field(
        default=None, description="Only requests completed at or after this time."
    )
    completed_before: Instant | None = Field(
        default=None, description="Only requests completed before this time."
    )
    specialization: Line | None = Field(
        default=None,
        max_length=200,
        description="A slug of GET /specializations; a field includes its subfields.",
    )
    policy: Line | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Only requests routed by the oversight policy of this name (any version), "
        "or whose metadata.policy is this string.",
    )
    status: list[Literal["completed", "disputed"]] = Field(
        default_factory=lambda: ["completed"],
        min_length=1,
        description="Request statuses to include (default: completed).",
    )
    agreement_min: float | None = Field(
        default=None,
        strict=True,  # a number, not `false`
        ge=0,
        le=1,
        description="Only requests whose agreement is at least this (one reviewer has none: "
        "left out).",
    )

    @model_validator(mode="after")
    def _period_in_order(self) -> ExportFiltersIn:
        after, before = self.completed_after, self.completed_before
        if after is not None and before is not None and before <= after:
            raise PydanticCustomError(
                "period",
                "must be later than completed_after.",
                {"json_path": ".completed_before"},
            )
        return self


class ExportIn(_Strict):
    format: Literal["sft", "dpo", "rubric", "raw"]
    filters: ExportFiltersIn | None = None


class ExportProgressOut(BaseModel):
    rows_done: int
    rows_total: int | None


class ExportOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    status: Literal["queued", "running", "completed", "failed"]
    format: Literal["sft", "dpo", "rubric", "raw"]
    schema_version: str
    filters: dict
    progress: ExportProgressOut
    rows: int | None
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    download_url: str | None


class ExportListOut(BaseModel):
    data: list[ExportOut]
    next_cursor: str | None


def filters_clean(filters: ExportFiltersIn) -> dict:
    """The filters as stored on the export (JSON: times as ISO 8601 strings)."""
    return filters.model_dump(mode="json", exclude_none=True)


def filters_parse(stored: dict) -> ExportFiltersIn:
    return ExportFiltersIn.model_validate(stored)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
