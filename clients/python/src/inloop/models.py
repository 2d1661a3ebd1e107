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
    # Independent reviews (docs/contract/independent-reviews.md): blind defaults to true with
    # several reviewers; four_eyes needs two and adjudicates any verdict disagreement.
    blind: bool | None = None
    four_eyes: bool = False
    deadline: datetime | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None


class BatchCreate(_Request):
    requests: list[ReviewRequestCreate] = Field(min_length=1, max_length=100)


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
    adjudicator: bool = False


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
    # Krippendorff's alpha per verdict, score key and comparison criterion; with an adjudicator,
    # `adjudication` and (four-eyes requests) `four_eyes` come along as extra fields.
    agreement_detail: dict[str, Any] | None = None


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
    blind: bool = False
    four_eyes: bool = False
    adjudication_wanted: bool = False
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
