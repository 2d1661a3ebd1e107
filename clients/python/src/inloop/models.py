"""Typed objects of the Inloop API v1 (the server's contract, API.md, and the extensions since).

Response models accept fields they do not know yet (a newer server may add some: they stay
readable as attributes and in `model_dump()`); request models refuse unknown fields, as the server
does, so a typo fails before anything is sent. The server's test suite compares every model here
with the server's own OpenAPI document, field by field, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RequestStatus = Literal["queued", "in_review", "completed", "cancelled", "expired", "disputed"]
AssignmentStatus = Literal[
    "accepted", "in_progress", "submitted", "released", "disputed", "resolved"
]
ContentType = Literal["text", "markdown", "code", "json", "chat"]
Verdict = Literal["approved", "rejected", "corrected"]
Severity = Literal["info", "minor", "major", "critical"]

# A request in one of these statuses will not change by itself any more (`wait` stops there).
FINAL_STATUSES: tuple[RequestStatus, ...] = ("completed", "cancelled", "expired")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# Requests ----------------------------------------------------------------------------------


class ChatMessage(_Request):
    role: str
    content: str


class Content(_Request):
    """The AI output to review. `body` is a string for text, markdown and code, any JSON value for
    json, and a list of `{"role", "content"}` for chat."""

    type: ContentType
    body: Any
    language: str | None = None


class RubricItem(_Request):
    key: str
    label: str
    scale: int = 5


class ReviewRequestCreate(_Request):
    """The body of `POST /api/v1/review-requests` (one item of a batch)."""

    title: str
    specialization: str
    content: Content
    prompt: str | None = None
    model: str | None = None
    guidelines: str | None = None
    rubric: list[RubricItem] | None = None
    max_hours: float
    max_hourly_rate_cents: int | None = None
    reviewers: int = 1
    deadline: datetime | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None


class BatchCreate(_Request):
    requests: list[ReviewRequestCreate] = Field(min_length=1, max_length=100)


ExportFormat = Literal["sft", "dpo", "rubric", "raw"]
ExportStatus = Literal["queued", "running", "completed", "failed"]


class ExportFilters(_Request):
    """Which reviewed requests an export reads (all optional; status defaults to completed)."""

    completed_after: datetime | None = None
    completed_before: datetime | None = None
    specialization: str | None = None
    policy: str | None = None
    status: list[Literal["completed", "disputed"]] = Field(default_factory=lambda: ["completed"])
    agreement_min: float | None = None


class ExportCreate(_Request):
    """The body of `POST /api/v1/exports`."""

    format: ExportFormat
    filters: ExportFilters | None = None


# Responses ---------------------------------------------------------------------------------


class ExpertRef(_Response):
    id: str
    display_name: str


class Assignment(_Response):
    id: str
    status: AssignmentStatus
    expert: ExpertRef
    rate_cents: int
    billed_seconds: int
    max_seconds: int
    cost_cents: int
    accepted_at: datetime | None
    submitted_at: datetime | None


class Annotation(_Response):
    start: int
    end: int
    quote: str
    comment: str
    severity: Severity
    # Set in a consensus result: which reviewer made it.
    assignment_id: str | None = None


class Review(_Response):
    """One reviewer's submitted review, inside `Result.reviews`."""

    assignment_id: str
    verdict: Verdict
    corrected_output: str | None = None
    summary: str = ""
    scores: dict[str, float] = Field(default_factory=dict)
    annotations: list[Annotation] = Field(default_factory=list)


class Result(_Response):
    """With one reviewer, that review; with several, the consensus (majority verdict, mean scores)
    and `agreement`, the share of reviewer pairs that agree (None for one reviewer)."""

    verdict: Verdict
    corrected_output: str | None = None
    summary: str = ""
    scores: dict[str, float] = Field(default_factory=dict)
    annotations: list[Annotation] = Field(default_factory=list)
    reviews: list[Review] = Field(default_factory=list)
    agreement: float | None = None


class ReviewRequest(_Response):
    id: str
    status: RequestStatus
    title: str
    specialization: str
    created_at: datetime
    updated_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    reviewers: int
    max_hours: float
    max_hourly_rate_cents: int | None
    waiting_for_funds: bool
    metadata: dict[str, Any]
    assignments: list[Assignment]
    result: Result | None = None
    cost_cents: int
    currency: str

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class ReviewRequestPage(_Response):
    data: list[ReviewRequest]
    next_cursor: str | None


class ReviewRequestBatch(_Response):
    data: list[ReviewRequest]


class Balance(_Response):
    available_cents: int
    held_cents: int
    currency: str


class Specialization(_Response):
    slug: str
    name: str
    parent: str | None
    requires_credentials: bool


class SpecializationList(_Response):
    data: list[Specialization]


class ExportProgress(_Response):
    rows_done: int
    rows_total: int | None


class Export(_Response):
    """A dataset export: `schema_version` names the line format, `sha256` the file's digest."""

    id: str
    status: ExportStatus
    format: ExportFormat
    schema_version: str
    filters: dict[str, Any]
    progress: ExportProgress
    rows: int | None
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None

    @property
    def is_final(self) -> bool:
        return self.status in ("completed", "failed")


class ExportPage(_Response):
    data: list[Export]
    next_cursor: str | None


# Expert endpoints (browser session, not API keys: no client methods, typed for completeness).


class OfferRequest(_Response):
    id: str
    status: str
    title: str
    specialization: str
    reviewers: int
    max_hours: float


class Offer(_Response):
    id: str
    review_request: OfferRequest
    rate_cents: int
    expires_at: datetime
    reason: str
    max_earning_cents: int


class OfferList(_Response):
    data: list[Offer]


class OfferAccepted(_Response):
    assignment_id: str
    workspace_url: str


class OfferDeclined(_Response):
    id: str
    status: str


# Errors and webhooks -------------------------------------------------------------------------


class ErrorDetail(_Response):
    code: str
    message: str
    field: str | None = None


class ErrorBody(_Response):
    error: ErrorDetail


WebhookEventType = Literal[
    "review_request.in_review",
    "review_request.completed",
    "review_request.cancelled",
    "review_request.expired",
]


class WebhookEvent(_Response):
    """What Inloop POSTs to a request's `callback_url`."""

    id: str
    type: str
    created: int
    data: ReviewRequest
