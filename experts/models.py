"""Supply side: the specialization taxonomy, expert profiles, availability, credentials, ratings."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone as tz

from marketplace.models import StatusHistory

MIN_RATE_CENTS = 1_000
MAX_RATE_CENTS = 100_000


class Specialization(models.Model):
    """A node of the taxonomy: `medicine`, `medicine.radiology`, ... (dotted slugs)."""

    slug = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    requires_credentials = models.BooleanField(default=False)
    depth = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def top_level_slug(self) -> str:
        return self.slug.split(".", 1)[0]


class ExpertProfile(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="expert_profile"
    )
    display_name = models.CharField(max_length=120, blank=True)
    headline = models.CharField(max_length=200, blank=True)
    bio = models.TextField(blank=True, help_text="Markdown; rendered sanitized.")
    languages = models.JSONField(
        default=list, blank=True, help_text="ISO 639-1 codes, e.g. ['en', 'de']"
    )
    hourly_rate_cents = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_RATE_CENTS), MaxValueValidator(MAX_RATE_CENTS)],
    )
    currency = models.CharField(max_length=3, default="usd")
    timezone = models.CharField(max_length=64, default="UTC")
    max_concurrent = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    accepting_work = models.BooleanField(default=True)
    # Demo and on-call experts: available at every hour of every day, whatever their windows.
    always_available = models.BooleanField(default=False)
    # Kept by review_requests services (experts never import it): active assignments now.
    current_load = models.PositiveSmallIntegerField(default=0)
    rating_avg = models.FloatField(default=0.0)
    rating_count = models.PositiveIntegerField(default=0)
    # Track record, kept by experts.services.expert_stats_* from review_requests' events. The
    # counters are the truth; the rates and the average are derived from them on every change.
    completed_count = models.PositiveIntegerField(default=0)  # assignments submitted
    on_time_count = models.PositiveIntegerField(default=0)  # ...of which before the deadline
    dropped_count = models.PositiveIntegerField(default=0)  # given back or past the deadline
    on_time_rate = models.FloatField(default=1.0)  # on_time / completed
    completion_rate = models.FloatField(default=1.0)  # completed / (completed + dropped)
    response_count = models.PositiveIntegerField(default=0)  # offers accepted, declined, expired
    response_seconds_total = models.PositiveBigIntegerField(default=0)
    avg_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=tz.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["accepting_work", "hourly_rate_cents"], name="expert_accepting_rate"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or str(self.user)


class ExpertSpecialization(models.Model):
    expert = models.ForeignKey(
        ExpertProfile, on_delete=models.CASCADE, related_name="specializations"
    )
    specialization = models.ForeignKey(
        Specialization, on_delete=models.PROTECT, related_name="experts"
    )
    years = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(70)])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["expert", "specialization"], name="expert_specialization_unique"
            )
        ]
        indexes = [models.Index(fields=["specialization", "expert"], name="expertspec_spec_expert")]

    def __str__(self) -> str:
        return f"{self.expert} · {self.specialization} ({self.years} y)"


class AvailabilityWindow(models.Model):
    """A weekly window in the expert's own timezone: weekday 0=Monday, minutes from midnight."""

    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="availability")
    weekday = models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)])
    start_minute = models.PositiveSmallIntegerField(validators=[MaxValueValidator(1439)])
    end_minute = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )

    class Meta:
        ordering = ["weekday", "start_minute"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_minute__gt=models.F("start_minute")), name="window_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start_minute}-{self.end_minute}"


class TimeOff(models.Model):
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="time_off")
    start_date = models.DateField()
    end_date = models.DateField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")), name="time_off_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start_date}–{self.end_date}"


class Credential(models.Model):
    class Kind(models.TextChoices):
        MEDICAL_LICENSE = "medical_license", "Medical license"
        BAR_ADMISSION = "bar_admission", "Bar admission"
        CPA = "cpa", "CPA"
        DEGREE = "degree", "Degree"
        CERTIFICATION = "certification", "Certification"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS = {
        "pending": {"verified", "rejected"},
        # A verified credential can still be withdrawn when it turns out to be wrong.
        "verified": {"rejected"},
        "rejected": set(),
    }

    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="credentials")
    # The top-level field this credential proves (medicine, law, ...).
    field = models.ForeignKey(Specialization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    issuer = models.CharField(max_length=200)
    number = models.CharField(max_length=100, blank=True)
    jurisdiction = models.CharField(max_length=100, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    document = models.FileField(upload_to="credentials/", blank=True)
    document_content_type = models.CharField(max_length=50, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["expert", "status", "field"], name="credential_expert_status")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.issuer}"

    @property
    def is_expired(self) -> bool:
        return self.expires_on is not None and self.expires_on < tz.localdate()


class CredentialStatusChange(StatusHistory):
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="history")


class CompanyBlock(models.Model):
    """A company never wants this expert again."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="+"
    )
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="blocked_by")
    created_at = models.DateTimeField(default=tz.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "expert"], name="company_block_unique")
        ]


class Rating(models.Model):
    """A company's rating of one submitted assignment (id only: experts never import review_requests)."""

    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="ratings")
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.CASCADE, related_name="+"
    )
    assignment_id = models.UUIDField(unique=True)
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=tz.now)


class MatchRow(models.Model):
    """Denormalized copy of what matching reads, one row per (expert, taxonomy node the expert
    can be matched under): the node itself when held (`exact`) and every ancestor of a held node.

    A cache of the normalized tables above, rebuilt per expert by experts.match_index whenever
    one of them changes, so ranking at 100k experts reads one narrow table through one index.
    Rows exist only for experts with a rate who accept work; suspension, time off, blocks and
    exclusions are checked live at query time.
    """

    node = models.ForeignKey(Specialization, on_delete=models.CASCADE, related_name="+")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="+")
    user_id = models.BigIntegerField()
    exact = models.BooleanField(default=False)
    years = models.PositiveSmallIntegerField(default=0)
    # The held specialization shown in the reason ("radiology, 12 y"): exact first, most years.
    best_spec = models.ForeignKey(Specialization, on_delete=models.CASCADE, related_name="+")
    rate_cents = models.PositiveIntegerField()
    timezone = models.CharField(max_length=64)
    always_available = models.BooleanField(default=False)
    max_concurrent = models.PositiveSmallIntegerField()
    current_load = models.PositiveSmallIntegerField()
    rating_avg = models.FloatField()
    rating_count = models.PositiveIntegerField()
    completion_rate = models.FloatField()
    on_time_rate = models.FloatField()
    # Latest expiry among verified credentials for the node's top-level field (9999-12-31 when
    # one never expires); null when there is none.
    credential_until = models.DateField(null=True)
    # Weekly availability by local hour (168 bits in three 56-bit words, hour h in word h // 56):
    # `full` = the whole hour is inside a window, `any` = some minute of it is.
    full0 = models.BigIntegerField(default=0)
    full1 = models.BigIntegerField(default=0)
    full2 = models.BigIntegerField(default=0)
    any0 = models.BigIntegerField(default=0)
    any1 = models.BigIntegerField(default=0)
    any2 = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "expert"], name="matchrow_node_expert")
        ]
        # Ranking reads one node's rows under a rate cap. On PostgreSQL, migration 0006 adds
        # a covering index (INCLUDE every column ranking reads) for index-only scans; SQLite
        # has no INCLUDE, so the model declares only the plain index.
        indexes = [models.Index(fields=["node", "rate_cents"], name="matchrow_node_rate")]


# Proven experts (issue #20): golden items, qualification tests, standing per specialization -----


class GoldenItem(models.Model):
    """A review whose right answer is known: content like a review request's, the expected verdict
    and rubric scores, and how far a score may be off (`tolerance`, in rubric points).

    Operators define platform items (`organization` empty); a company defines items for its own
    pool (`organization` set: only mixed into work for that company's requests), by hand or by
    marking one of its completed reviews (`source_review_request_id`, an id only: experts never
    import review_requests)."""

    class Verdict(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CORRECTED = "corrected", "Corrected"

    specialization = models.ForeignKey(
        Specialization, on_delete=models.PROTECT, related_name="golden_items"
    )
    organization = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    title = models.CharField(max_length=200)
    content_type = models.CharField(max_length=16, default="text")
    # The content object as a review request holds it: {"type", "body", "language"?}.
    content = models.JSONField()
    prompt = models.TextField(blank=True)
    guidelines = models.TextField(blank=True)
    rubric = models.JSONField(default=list, blank=True)
    max_hours = models.DecimalField(max_digits=5, decimal_places=2, default=0.5)
    # Blank: any verdict counts (only the scores are checked).
    expected_verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    expected_scores = models.JSONField(default=dict, blank=True)  # {criterion: points}
    tolerance = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    source_review_request_id = models.UUIDField(null=True, blank=True, unique=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=tz.now)

    class Meta:
        ordering = ["specialization__slug", "-created_at"]
        indexes = [
            models.Index(fields=["specialization", "active"], name="golden_spec_active"),
        ]

    def __str__(self) -> str:
        return self.title


class QualificationTest(models.Model):
    """One per specialization: the golden items an expert must pass (share correct >= the
    threshold) before getting offers in it, and how often golden items are mixed into live work.
    A test without items is not configured: matching then asks for no qualification."""

    specialization = models.OneToOneField(
        Specialization, on_delete=models.PROTECT, related_name="qualification_test"
    )
    items = models.ManyToManyField(GoldenItem, blank=True, related_name="tests")
    pass_threshold = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    # Chance that a submitted live review in this specialization brings one golden offer.
    live_rate = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Qualification · {self.specialization}"


class QualificationAttempt(models.Model):
    """An expert taking a specialization's test: one golden review per item, paid by the
    platform at `rate_cents`, capped at `cap_seconds` in all (shown before starting)."""

    class Status(models.TextChoices):
        STARTED = "started", "In progress"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Not passed"
        ABANDONED = "abandoned", "Abandoned"

    TRANSITIONS = {
        "started": {"passed", "failed", "abandoned"},
        "passed": set(),
        "failed": set(),
        "abandoned": set(),
    }

    expert = models.ForeignKey(
        ExpertProfile, on_delete=models.CASCADE, related_name="qualification_attempts"
    )
    test = models.ForeignKey(QualificationTest, on_delete=models.PROTECT, related_name="attempts")
    specialization = models.ForeignKey(Specialization, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTED)
    items_total = models.PositiveSmallIntegerField()
    items_scored = models.PositiveSmallIntegerField(default=0)
    items_correct = models.PositiveSmallIntegerField(default=0)
    pass_threshold = models.FloatField()
    rate_cents = models.PositiveIntegerField()
    cap_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=tz.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["expert", "status"], name="qual_attempt_expert")]


class QualificationAttemptStatusChange(StatusHistory):
    qualification_attempt = models.ForeignKey(
        QualificationAttempt, on_delete=models.CASCADE, related_name="history"
    )


class SpecializationStanding(models.Model):
    """An expert's proof in one specialization: when they passed its test, their golden results
    in live work since then, and a suspension when that accuracy fell below the floor
    (settings.GOLDEN_ACCURACY_FLOOR). Written by experts.services; read by matching through SQL
    and by everyone else through experts.selectors.expert_standing."""

    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="standings")
    specialization = models.ForeignKey(Specialization, on_delete=models.PROTECT, related_name="+")
    qualified_at = models.DateTimeField(null=True, blank=True)
    golden_correct = models.PositiveIntegerField(default=0)
    golden_total = models.PositiveIntegerField(default=0)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["expert", "specialization"], name="standing_expert_specialization"
            ),
            models.CheckConstraint(
                condition=models.Q(golden_correct__lte=models.F("golden_total")),
                name="standing_correct_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.expert} · {self.specialization}"

    @property
    def accuracy(self) -> float | None:
        return self.golden_correct / self.golden_total if self.golden_total else None
