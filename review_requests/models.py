"""Review requests and their lifecycle, offers, assignments, the workspace, results, webhooks,
idempotency and disputes. (Named review_requests: a top-level `requests` package would shadow
the HTTP library that stripe and allauth import.)"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from marketplace.models import StatusHistory


def _person_or_none():
    """A user key that rows made by the API or the system leave empty: not indexed as a whole
    (most entries would be empty); the model indexes it where set (`_where_set`)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )


def _where_set(field: str, name: str) -> models.Index:
    """An index of `field` over the rows where it is set (a user's deletion still finds them)."""
    return models.Index(fields=[field], name=name, condition=Q(**{f"{field}__isnull": False}))


class ReviewRequest(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        IN_REVIEW = "in_review", "In review"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"
        DISPUTED = "disputed", "Disputed"
        # Decided by an oversight policy: answered at once, never charged, matched or offered.
        AUTO_APPROVED = "auto_approved", "Auto-approved"

    TRANSITIONS = {
        "queued": {"in_review", "cancelled", "expired"},
        "in_review": {"queued", "completed", "cancelled", "expired"},
        "completed": {"disputed"},
        "disputed": {"completed", "in_review", "queued"},
        "cancelled": set(),
        "expired": set(),
        "auto_approved": set(),
    }

    class OversightOutcome(models.TextChoices):
        NONE = "", "No policy"
        REVIEW = "review", "Review"
        SAMPLE = "sample", "Sample"
        AUTO_APPROVE = "auto_approve", "Auto-approve"

    class ContentType(models.TextChoices):
        TEXT = "text", "Text"
        MARKDOWN = "markdown", "Markdown"
        CODE = "code", "Code"
        JSON = "json", "JSON"
        CHAT = "chat", "Chat"
        COMPARISON = "comparison", "Comparison"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by rr_org_created, whose first column it is.
    organization = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        related_name="review_requests",
        db_index=False,
    )
    created_by_key = models.ForeignKey(
        "marketplace.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_user = _person_or_none()  # empty on requests made through the API
    title = models.CharField(max_length=200)
    specialization = models.ForeignKey(
        "experts.Specialization", on_delete=models.PROTECT, related_name="+"
    )
    content_type = models.CharField(max_length=16, choices=ContentType.choices)
    # The whole content object as submitted: {"type", "body", "language"?}.
    content = models.JSONField()
    prompt = models.TextField(blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    guidelines = models.TextField(blank=True)
    rubric = models.JSONField(default=list, blank=True)
    max_hours = models.DecimalField(max_digits=5, decimal_places=2)
    max_hourly_rate_cents = models.PositiveIntegerField(null=True, blank=True)
    reviewers = models.PositiveSmallIntegerField(default=1)
    # Independent reviews (docs/contract/independent-reviews.md): reviewers see nothing of each
    # other's work until every review is in; four-eyes adjudicates any verdict disagreement.
    blind = models.BooleanField(default=False)
    four_eyes = models.BooleanField(default=False)
    # Set when every independent review is in and an adjudicator's review is wanted: one more
    # slot is offered (flagged `adjudicator`) and the request completes after it.
    adjudication_wanted_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # True while no offer can go out because the balance does not cover the hold.
    waiting_for_funds = models.BooleanField(default=False)
    # A golden item sent to one expert (GoldenRun says which and why): never matched, paid by the
    # platform, owned by the platform's organization.
    is_golden = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    cost_cents = models.PositiveBigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    first_accepted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Oversight (issue #17): the model's confidence as sent, and what the policy decided.
    confidence = models.FloatField(null=True, blank=True)
    # Indexed by rr_policy_version_created, over the rows where it is set.
    policy_version = models.ForeignKey(
        "oversight.PolicyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    policy_rule = models.PositiveSmallIntegerField(null=True, blank=True)  # the rule's index
    policy_rule_name = models.CharField(max_length=80, blank=True)
    oversight_outcome = models.CharField(
        max_length=16, choices=OversightOutcome.choices, blank=True, default=""
    )
    # A sampled item sent to review as an audit of the policy.
    audit = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="rr_org_created"),
            models.Index(
                fields=["organization", "status", "-created_at"], name="rr_org_status_created"
            ),
            models.Index(fields=["status", "deadline"], name="rr_status_deadline"),
            _where_set("created_by_user", "rr_created_by_user"),
            models.Index(
                fields=["policy_version", "created_at"],
                name="rr_policy_version_created",
                condition=Q(policy_version__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ReviewSettings(models.Model):
    """An organization's review settings, kept by its owners and admins."""

    organization = models.OneToOneField(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="review_settings"
    )
    # Agreement (result.agreement, 0-1) below this, or any verdict disagreement, sends a
    # request with several reviewers to an adjudicator. Null: off.
    adjudication_threshold = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class RequestStatusChange(StatusHistory):
    review_request = models.ForeignKey(
        ReviewRequest, on_delete=models.CASCADE, related_name="history"
    )


class Offer(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        TAKEN = "taken", "Taken by another expert"
        WITHDRAWN = "withdrawn", "Withdrawn"

    TRANSITIONS = {
        "open": {"accepted", "declined", "expired", "taken", "withdrawn"},
        "accepted": set(),
        "declined": set(),
        "expired": set(),
        "taken": set(),
        "withdrawn": set(),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    review_request = models.ForeignKey(
        ReviewRequest, on_delete=models.CASCADE, related_name="offers"
    )
    expert = models.ForeignKey(
        "experts.ExpertProfile", on_delete=models.CASCADE, related_name="offers"
    )
    rate_cents = models.PositiveIntegerField()
    score = models.FloatField(default=0.0)
    reason = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # An offer of the adjudication slot (the accepted assignment carries the flag on).
    adjudicator = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # An expert is offered a request once: a decline is final.
            models.UniqueConstraint(
                fields=["review_request", "expert"], name="offer_once_per_expert"
            ),
        ]
        indexes = [
            models.Index(fields=["expert", "status", "expires_at"], name="offer_expert_open"),
            models.Index(fields=["status", "expires_at"], name="offer_status_expiry"),
        ]


class Assignment(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"
        RELEASED = "released", "Released"
        DISPUTED = "disputed", "Disputed"
        RESOLVED = "resolved", "Resolved"

    TRANSITIONS = {
        "accepted": {"in_progress", "submitted", "released"},
        "in_progress": {"submitted", "released"},
        "submitted": {"disputed"},
        # released: rework decided on a dispute (the slot is offered to another expert).
        "disputed": {"resolved", "released"},
        "released": set(),
        "resolved": set(),
    }
    ACTIVE = ("accepted", "in_progress")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    review_request = models.ForeignKey(
        ReviewRequest, on_delete=models.CASCADE, related_name="assignments"
    )
    expert = models.ForeignKey(
        "experts.ExpertProfile", on_delete=models.PROTECT, related_name="assignments"
    )
    offer = models.OneToOneField(
        Offer, on_delete=models.PROTECT, null=True, blank=True, related_name="assignment"
    )
    rate_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    max_seconds = models.PositiveIntegerField()
    # Derived from WorkInterval rows by review_requests.timekeeping.billed_seconds; cached here.
    billed_seconds = models.PositiveIntegerField(default=0)
    cost_cents = models.PositiveBigIntegerField(default=0)
    hold_ref = models.CharField(max_length=200, blank=True)
    # The adjudicator of a request whose independent reviews disagreed: sees every review and
    # decides the final result.
    adjudicator = models.BooleanField(default=False)
    # The last workspace event's seq: incremented under a row lock, so seqs have no gaps.
    last_seq = models.PositiveIntegerField(default=0)
    draft = models.JSONField(default=dict, blank=True)
    accepted_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    warned_80_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["review_request", "expert"],
                condition=~Q(status="released"),
                name="assignment_once_per_expert",
            ),
        ]
        indexes = [models.Index(fields=["expert", "status"], name="assignment_expert_status")]


class AssignmentStatusChange(StatusHistory):
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="history")


class OfferStatusChange(StatusHistory):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="history")


class WorkspaceEvent(models.Model):
    """A persisted workspace change with a gap-free per-assignment sequence number."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["assignment", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "seq"], name="workspace_event_seq_unique")
        ]


class Annotation(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", "Info"
        MINOR = "minor", "Minor"
        MAJOR = "major", "Major"
        CRITICAL = "critical", "Critical"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="annotations")
    client_id = models.CharField(max_length=64, blank=True)
    # On a comparison: the id of the candidate whose text the offsets are in; else empty.
    candidate = models.CharField(max_length=64, blank=True, default="")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    quote = models.TextField()
    comment = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.INFO)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start", "created_at"]


class WorkInterval(models.Model):
    """One expert socket's stretch of heartbeats (review_requests.timekeeping, the rule): from its
    first heartbeat to its last, or to the socket's close; `closed` once it takes no more."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="intervals")
    # The socket's channel name: unique across daphne processes. Empty on rows made before
    # sockets were told apart.
    socket = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField()
    last_heartbeat_at = models.DateTimeField()
    socket_closed_at = models.DateTimeField(null=True, blank=True)
    closed = models.BooleanField(default=False)

    class Meta:
        ordering = ["started_at", "id"]


class Review(models.Model):
    """One submitted review (an assignment's result)."""

    class Verdict(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CORRECTED = "corrected", "Corrected"

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="review")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    corrected_output = models.TextField(null=True, blank=True)
    summary = models.TextField(blank=True)
    scores = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=list, blank=True)
    # On a comparison (verdict "compared"): {"order_shown", "criteria", "rewrite"}.
    comparison = models.JSONField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)


class IdempotencyRecord(models.Model):
    """`Idempotency-Key` of a create call, kept 24 h: a replay returns the stored response."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=64)
    body_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "endpoint", "key"], name="idempotency_unique"
            ),
        ]


class WebhookEvent(models.Model):
    """An outbound event: its body is frozen at creation so every retry sends the same bytes."""

    id = models.CharField(max_length=40, primary_key=True)
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="webhook_events"
    )
    review_request = models.ForeignKey(
        ReviewRequest, on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=64)
    url = models.URLField(max_length=2000)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class WebhookAttempt(models.Model):
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class Dispute(models.Model):
    class Category(models.TextChoices):
        QUALITY = "quality", "Quality"
        HOURS = "hours", "Hours billed"
        NO_SHOW = "no_show", "No-show"
        OTHER = "other", "Other"

    class Remedy(models.TextChoices):
        FULL_REFUND = "full_refund", "Full refund"
        PARTIAL_REFUND = "partial_refund", "Partial refund"
        REWORK = "rework", "Rework by another expert"

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for the expert"
        READY = "ready", "Ready for a decision"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting a second operator"
        RESOLVED = "resolved", "Resolved"

    # Its history rows and the audit log are the trail that dispute_timeline shows.
    TRANSITIONS = {
        "open": {"ready"},
        "ready": {"awaiting_approval", "resolved"},
        "awaiting_approval": {"resolved", "ready"},
        "resolved": set(),
    }

    class Outcome(models.TextChoices):
        RELEASE = "release", "Released to the expert"
        PARTIAL_REFUND = "partial_refund", "Partial refund"
        FULL_REFUND = "full_refund", "Full refund"
        REWORK = "rework", "Rework"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="dispute")
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="disputes"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    category = models.CharField(max_length=16, choices=Category.choices)
    description = models.TextField()
    requested_remedy = models.CharField(max_length=16, choices=Remedy.choices)
    requested_amount_cents = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    expert_statement = models.TextField(blank=True)
    expert_answered_at = models.DateTimeField(null=True, blank=True)
    company_addendum = models.TextField(blank=True)
    company_addendum_at = models.DateTimeField(null=True, blank=True)
    expert_answer_due_at = models.DateTimeField()
    flagged_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    outcome_amount_cents = models.PositiveBigIntegerField(null=True, blank=True)
    rework_funded_by = models.CharField(max_length=16, blank=True)  # "refund" or "platform"
    decision_note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class DisputeStatusChange(StatusHistory):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="history")


class GoldenRun(models.Model):
    """A golden item (experts.GoldenItem) put to one expert as a review request: in a
    qualification attempt, or mixed into live work (`attempt` empty). Scored once, when the
    expert submits (`correct`, `scored_at`). `expert` is the one it is put to now: a live item
    whose offer lapsed moves on to another expert (golden.golden_reoffer_locked); the request's
    offers remember who had it before."""

    review_request = models.OneToOneField(
        ReviewRequest, on_delete=models.CASCADE, related_name="golden_run"
    )
    item = models.ForeignKey("experts.GoldenItem", on_delete=models.PROTECT, related_name="+")
    expert = models.ForeignKey(
        "experts.ExpertProfile", on_delete=models.CASCADE, related_name="golden_runs"
    )
    attempt = models.ForeignKey(
        "experts.QualificationAttempt",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="runs",
    )
    # The company whose live request brought this item (None in a qualification attempt).
    for_organization = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    correct = models.BooleanField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["expert", "item"], name="golden_run_expert_item")]
