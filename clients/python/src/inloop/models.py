"""Typed objects of the Inloop API v1 (the server's contract, API.md, and the extensions since).

Response models accept fields they do not know yet (a newer server may add some: they stay
readable as attributes and in `model_dump()`); request models refuse unknown fields, as the server
does, so a typo fails before anything is sent. The server's test suite compares every model here
with the server's own OpenAPI document, field by field, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RequestStatus = Literal[
    "queued", "in_review", "completed", "cancelled", "expired", "disputed", "auto_approved"
]
AssignmentStatus = Literal[
    "accepted", "in_progress", "submitted", "released", "disputed", "resolved"
]
OutputType = Literal["text", "markdown", "code", "json", "chat"]
ContentType = Literal["text", "markdown", "code", "json", "chat", "comparison"]
# "compared": the verdict of a comparison request's result (its `comparison` field, an extra).
Verdict = Literal["approved", "rejected", "corrected", "compared"]
ComparisonMode = Literal["pairwise", "rank"]
Severity = Literal["info", "minor", "major", "critical"]

# A request in one of these statuses will not change by itself any more (`wait` stops there).
FINAL_STATUSES: tuple[RequestStatus, ...] = ("completed", "cancelled", "expired", "auto_approved")
OversightOutcome = Literal["review", "sample", "auto_approve"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# Requests ----------------------------------------------------------------------------------


class ChatMessage(_Request):
    role: str
    content: str


class Candidate(_Request):
    """One output of a comparison: `type`, `body` and `language` as in `Content`; `model` is kept
    for the company and hidden from reviewers while `blind_models`."""

    id: str
    type: OutputType
    body: Any = None
    language: str | None = None
    model: str | None = None


class Content(_Request):
    """The AI output to review. `body` is a string for text, markdown and code, any JSON value for
    json, and a list of `{"role", "content"}` for chat. A `comparison` has no body but `mode`
    (`pairwise`: 2 candidates, `rank`: 2-4), `candidates` and `blind_models` (default true)."""

    type: ContentType
    body: Any = None
    language: str | None = None
    mode: ComparisonMode | None = None
    candidates: list[Candidate] | None = None
    blind_models: bool | None = None


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
    # Oversight: the policy to apply (default: the organization's default policy) and the
    # model's confidence, 0-1, for its rules.
    policy: str | None = None
    confidence: float | None = None


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
    adjudicator: bool = False


class Annotation(_Response):
    start: int
    end: int
    quote: str
    comment: str
    severity: Severity
    # Set in a consensus result: which reviewer made it.
    assignment_id: str | None = None
    # On a comparison: the candidate it is on.
    candidate: str | None = None


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


class Oversight(_Response):
    """What an oversight policy decided for a request: `rule` is None when no rule matched."""

    policy: str
    policy_version: int
    rule: str | None
    outcome: OversightOutcome


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
    confidence: float | None = None
    audit: bool = False
    oversight: Oversight | None = None

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


# Oversight policies (docs/contract/oversight.md) ----------------------------------------


class MetaCondition(_Request):
    field: str
    op: Literal["eq", "in", "exists", "lt", "gt"]
    value: Any = None


class When(_Request):
    confidence_lt: float | None = None
    confidence_gte: float | None = None
    specialization: str | None = None
    model: str | None = None
    metadata: list[MetaCondition] = Field(default_factory=list)
    sample: float | None = None


class ReviewParams(_Request):
    reviewers: int | None = None
    max_hours: float | None = None
    max_hourly_rate_cents: int | None = None
    deadline_hours: float | None = None


class Rule(_Request):
    """One rule of a policy; the first that matches decides."""

    name: str
    when: When = Field(default_factory=When)
    outcome: OversightOutcome
    audit_rate: float = 0
    review: ReviewParams | None = None


class PolicyCreate(_Request):
    name: str
    rules: list[Rule]
    note: str = ""
    is_default: bool = False


class PolicyVersionCreate(_Request):
    rules: list[Rule]
    note: str = ""


class PolicyVersion(_Response):
    number: int
    rules: list[Rule]
    note: str
    created_at: datetime
    created_by: str | None


class Policy(_Response):
    """A policy; `rules` and `versions` (newest first) are set when it is read by name."""

    name: str
    is_default: bool
    created_at: datetime
    version: int
    rules: list[Rule] | None = None
    versions: list[PolicyVersion] | None = None


class PolicyList(_Response):
    data: list[Policy]


class OversightSettings(_Response):
    auto_approved_webhook: bool


class OversightSettingsUpdate(_Request):
    auto_approved_webhook: bool


# Oversight figures and the simulator (docs/contract/oversight-figures.md) -------------------


class Share(_Response):
    """`successes` of `n`, the rate and its Wilson 95% interval (all None when n is 0)."""

    successes: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


class OversightCounts(_Response):
    seen: int
    sent_to_review: int
    sampled: int
    auto_approved: int
    audits: int
    audits_reviewed: int
    audit_misses: int
    audit_miss_rate: Share
    reviews_reviewed: int
    review_misses: int
    review_miss_rate: Share


class OversightWeek(OversightCounts):
    week_start: date


class OversightRuleFigures(OversightCounts):
    rule: str | None
    versions: list[int]


class OversightStats(_Response):
    """`GET /oversight-policies/{name}/stats`: per week, per rule and in all."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    policy: str
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    weeks: list[OversightWeek]
    rules: list[OversightRuleFigures]
    totals: OversightCounts


class SimulationRequest(_Request):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    first: date | None = Field(default=None, alias="from")
    last: date | None = Field(default=None, alias="to")
    rules: list[Rule]
    scope: str = "policy"


class SimulatedOutcomes(_Response):
    review: int
    sample_audited: int
    sample_auto_approved: int
    auto_approve: int
    sent_to_review: int
    auto_approved: int


class SimulatedRule(_Response):
    rule: str
    matched: int


class CostBasis(_Response):
    completed_reviews: int
    mean_review_cents: int | None
    fallback_items: int


class Simulation(_Response):
    """`POST /oversight-policies/{name}/simulate`: what the rules would have done."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    policy: str
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    items: int
    current: SimulatedOutcomes
    simulated: SimulatedOutcomes
    changed: int
    newly_reviewed: int
    newly_auto_approved: int
    rules: list[SimulatedRule]
    unmatched: int
    estimated_review_cost_cents: int | None
    current_review_cost_cents: int | None
    currency: str
    cost_basis: CostBasis
    estimated_miss_rate: Share
    miss_rate_all_reviewed: Share


# Agreement over requests (docs/contract/independent-reviews.md) ---------------------------


class SpecializationAgreement(_Response):
    specialization: str
    requests: int
    verdict: float | None


class MonthAgreement(_Response):
    month: str
    requests: int
    verdict: float | None


class Agreement(_Response):
    """`GET /agreement`: Krippendorff's alpha over the requests with two or more independent
    reviews, in all (verdict, each score key), per specialization and per month."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    first: date = Field(alias="from")
    last: date = Field(alias="to")
    specialization: str | None
    policy: str | None
    requests: int
    verdict: float | None
    scores: dict[str, float | None]
    by_specialization: list[SpecializationAgreement]
    by_month: list[MonthAgreement]


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


# Golden items (docs/contract/golden.md) ------------------------------------------------------

GoldenVerdict = Literal["approved", "rejected", "corrected"]


class GoldenMark(_Request):
    """The body of `POST /api/v1/review-requests/{id}/golden`."""

    tolerance: float = Field(default=0.0, ge=0, le=10)


class GoldenItem(_Response):
    """A golden item of the organization's pool: a review whose right answer is known, mixed
    into experts' work on the organization's requests to measure them. `expected_verdict` None:
    any verdict counts (only the scores are checked, each within `tolerance` points)."""

    id: str
    specialization: str
    title: str
    content: dict[str, Any]
    prompt: str
    guidelines: str
    rubric: list[dict[str, Any]]
    max_hours: float
    expected_verdict: GoldenVerdict | None
    expected_scores: dict[str, float]
    tolerance: float
    source_review_request_id: str | None
    active: bool
    created_at: datetime


class GoldenItemPage(_Response):
    data: list[GoldenItem]
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


# Evidence ----------------------------------------------------------------------------------


class EvidenceEntry(_Response):
    """One entry of the organization's hash chain (docs/contract/evidence.md). `created_at` stays
    the string the server hashed, so the chain can be checked from the export as it is."""

    organization_id: str
    position: int
    kind: str
    review_request_id: str | None
    schema_version: int
    created_at: str
    body: dict[str, Any]
    previous_hash: str
    entry_hash: str


class Evidence(_Response):
    """`client.review_requests.evidence(id)`: the oversight evidence export of a completed
    request (`evidence_pdf(id)` gives the same as a PDF)."""

    schema_name: Literal["inloop.evidence.export"]
    schema_version: int
    exported_at: str
    organization: dict[str, Any]
    scope: dict[str, Any]
    hash_rule: str
    chain_head: dict[str, Any]
    latest_anchor: dict[str, Any] | None
    entries: list[EvidenceEntry]


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


AUTO_APPROVED_EVENT = "review_request.auto_approved"


class AutoApprovedRequests(_Response):
    review_requests: list[ReviewRequest]


class AutoApprovedEvent(_Response):
    """`review_request.auto_approved` (when the organization turned it on): up to 100 requests
    that an oversight policy approved without review, created by one call."""

    id: str
    type: Literal["review_request.auto_approved"]
    created: int
    data: AutoApprovedRequests
