"""Money: a double-entry ledger in integer cents, funding, holds, earnings, Stripe Connect, payouts.

billing never imports experts or review_requests: experts are users, assignments are ids and
holds are reference strings.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from marketplace.models import StatusHistory


class AppendOnlyError(Exception):
    """A posted ledger row was about to be changed or deleted: post a reversal instead."""


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk update()/delete(); the database triggers refuse them too (migration 0002),
    and they alone stop the deletes a cascade makes without calling delete()."""

    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; post a reversal.")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; post a reversal.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # The ids are the database's (auto-increment): an instance with one was saved before.
        if self.pk is not None:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only; post a reversal.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only; post a reversal.")


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        COMPANY_AVAILABLE = "company_available", "Company available"
        COMPANY_HELD = "company_held", "Company held"
        EXPERT_PENDING = "expert_pending", "Expert pending"
        EXPERT_AVAILABLE = "expert_available", "Expert available"
        EXPERT_PAID_OUT = "expert_paid_out", "Expert paid out"
        PLATFORM_FEES = "platform_fees", "Platform fees"
        PLATFORM_STRIPE_CLEARING = "platform_stripe_clearing", "Stripe clearing"
        PLATFORM_REFUNDS = "platform_refunds", "Platform refunds"
        PLATFORM_CREDIT = "platform_credit", "Operator-granted credit"
        # Holds the platform pays for itself (rework after a dispute), kept apart from any
        # company's held balance.
        PLATFORM_HELD = "platform_held", "Platform-funded holds"
        # What the platform spends measuring experts (golden items, qualification tests): kept
        # apart from the cost of refunds.
        PLATFORM_QUALITY = "platform_quality", "Golden items and qualification"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    organization = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # "org:<uuid>", "user:<id>" or "platform": one unique key that works on SQLite and PostgreSQL
    # alike (nullable foreign keys would make NULLs distinct in a unique constraint).
    owner_key = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, default="usd")
    # A cache of the sum of this account's entries, kept in the same transaction as they are
    # posted; `manage.py ledger_check` recomputes every one.
    balance_cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "owner_key", "currency"], name="ledger_account_unique"
            ),
        ]

    def __str__(self) -> str:
        owner = self.organization or self.user or "platform"
        return f"{self.kind} · {owner}"


class LedgerTransaction(AppendOnlyModel):
    """One balanced movement. `ref` is unique so the same step can never post twice."""

    ref = models.CharField(max_length=200, unique=True)
    reason = models.CharField(max_length=64, db_index=True)
    memo = models.CharField(max_length=500, blank=True)
    organization = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "objects"

    def __str__(self) -> str:
        return self.ref


class LedgerEntry(AppendOnlyModel):
    """Append-only: never updated or deleted (enforced in code and by database triggers)."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_cents = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["account", "created_at"], name="entry_account_time")]
        base_manager_name = "objects"


class Hold(models.Model):
    class Status(models.TextChoices):
        HELD = "held", "Held"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"

    TRANSITIONS = {
        "held": {"captured", "released"},
        "captured": set(),
        "released": set(),
    }

    class Payer(models.TextChoices):
        COMPANY = "company", "The company"
        PLATFORM = "platform", "The platform (rework)"

    ref = models.CharField(max_length=200, unique=True)
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="+"
    )
    payer = models.CharField(max_length=16, choices=Payer.choices, default=Payer.COMPANY)
    # Set when the platform pays this hold because of a PlatformHoldGrant (a rework).
    platform_grant = models.ForeignKey(
        "PlatformHoldGrant", on_delete=models.PROTECT, null=True, blank=True, related_name="holds"
    )
    amount_cents = models.PositiveBigIntegerField()
    captured_cents = models.PositiveBigIntegerField(default=0)
    fee_cents = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)


class PlatformHoldGrant(models.Model):
    """The platform pays the next hold placed for `scope` (an opaque string from the caller, e.g.
    a review request's rework): the company's balance is not touched and the ledger shows the
    platform as the payer (platform_refunds -> platform_held).

    open -> held (an accept placed the hold) -> used (the work was captured); a released hold
    (the expert gave the work back) makes the grant open again for the next accept. One grant per
    `source_ref` (e.g. "dispute:<id>:rework"), so a decision replayed cannot fund twice."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for an expert to accept"
        HELD = "held", "Held for the accepted work"
        USED = "used", "Used (the work was charged to the platform)"

    TRANSITIONS = {
        "open": {"held"},
        "held": {"open", "used"},
        "used": set(),
    }

    class Purpose(models.TextChoices):
        REWORK = "rework", "Rework after a dispute (booked as a cost of refunds)"
        QUALITY = "quality", "Golden item or qualification (booked as a cost of quality)"

    source_ref = models.CharField(max_length=200, unique=True)
    scope = models.CharField(max_length=200, db_index=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.REWORK)
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)


class Earning(models.Model):
    """An expert's captured pay for one assignment, pending until the dispute window closes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (dispute window)"
        FROZEN = "frozen", "Frozen (disputed)"
        AVAILABLE = "available", "Available"
        PAID = "paid", "Paid out"
        REFUNDED = "refunded", "Refunded"

    TRANSITIONS = {
        "pending": {"available", "frozen", "refunded"},
        "frozen": {"pending", "refunded"},
        "available": {"paid", "refunded"},
        "paid": {"available"},  # the payout failed or its transfer was reversed
        "refunded": set(),
    }

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="earnings"
    )
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="+"
    )
    ref = models.CharField(max_length=200, unique=True)  # the hold ref it was captured from
    # Who paid for the work (the hold's payer): a platform-paid rework costs the company nothing.
    payer = models.CharField(max_length=16, choices=Hold.Payer.choices, default=Hold.Payer.COMPANY)
    assignment_id = models.UUIDField(db_index=True)
    amount_cents = models.PositiveBigIntegerField()
    fee_cents = models.PositiveBigIntegerField(default=0)
    refunded_cents = models.PositiveBigIntegerField(default=0)
    billed_seconds = models.PositiveIntegerField(default=0)
    rate_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    available_at = models.DateTimeField(db_index=True)
    payout = models.ForeignKey(
        "Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="earnings"
    )
    created_at = models.DateTimeField(default=timezone.now)

    @property
    def company_cost_cents(self) -> int:
        """What the company was charged for this work (nothing when the platform paid)."""
        if self.payer == Hold.Payer.PLATFORM:
            return 0
        return self.amount_cents + self.fee_cents


class Funding(models.Model):
    """A company top-up by card: credited only by the verified payment_intent.succeeded webhook."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        "created": {"processing", "succeeded", "failed"},
        "processing": {"succeeded", "failed"},
        # A card declined first and accepted on a retry of the same PaymentIntent.
        "failed": {"succeeded"},
        "succeeded": set(),
    }

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="fundings"
    )
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    stripe_payment_intent_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    client_secret = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)

    @property
    def idempotency_key(self) -> str:
        return f"funding-{self.pk}"


class CreditGrant(models.Model):
    """Operator-granted (positive) or revoked (negative) credit, always with a reason."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="credit_grants"
    )
    amount_cents = models.BigIntegerField()
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # One per rendering of the operator's form: the same form posted twice (a double click, a
    # reload that re-POSTs, a retry after a timeout) grants once.
    request_token = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class StripeEvent(models.Model):
    """Every verified Stripe webhook event, once (unique id), with the outcome of handling it."""

    id = models.CharField(max_length=100, primary_key=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)


class ConnectedAccount(models.Model):
    """An expert's Stripe Connect Express account."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connected_account"
    )
    stripe_account_id = models.CharField(max_length=100, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    # The `created` time of the newest account.updated event applied: an older event that
    # arrives late never overwrites a newer state.
    stripe_state_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class PayoutRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    payouts_created = models.PositiveIntegerField(default=0)
    stripe_calls = models.PositiveIntegerField(default=0)


class Payout(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AWAITING_STRIPE = "awaiting_stripe", "Awaiting Stripe"
        SENT = "sent", "Sent"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        "pending": {"sent", "failed", "awaiting_stripe"},
        "awaiting_stripe": {"pending", "sent", "failed"},
        "sent": {"paid", "failed"},
        "paid": {"failed"},  # a reversed transfer
        "failed": {"pending"},  # an operator retry
    }

    run = models.ForeignKey(
        PayoutRun, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    stripe_transfer_id = models.CharField(max_length=100, blank=True)
    # 0 for the first transfer attempt; an operator retry after a failure increments it, because
    # Stripe saves a failed request under its idempotency key and would replay the failure.
    attempt = models.PositiveIntegerField(default=0)
    reversed_cents = models.PositiveBigIntegerField(default=0)
    failure_reason = models.CharField(max_length=500, blank=True)
    # Committed just before each Stripe call of the current attempt (billing.payouts): while it is
    # empty, no transfer can exist under this attempt's key, so the payout may simply be failed;
    # once set, a transfer may exist (a crash after the call) and Stripe must be asked first.
    transfer_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def reversible_cents(self) -> int:
        """What is left of the transfer to take back (reversals not refused count as taken)."""
        asked = sum(
            reversal.amount_cents
            for reversal in self.reversals.all()
            if reversal.status != TransferReversal.Status.REFUSED
        )
        return max(self.amount_cents - asked, 0)

    @property
    def idempotency_key(self) -> str:
        if self.attempt:
            return f"payout-{self.pk}-retry-{self.attempt}"
        return f"payout-{self.pk}"


class PayoutStatusChange(StatusHistory):
    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="history")


class Refund(models.Model):
    """Part (or all) of a captured earning given back to whoever paid for it."""

    earning = models.ForeignKey(Earning, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveBigIntegerField()
    expert_cents = models.PositiveBigIntegerField()
    fee_cents = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)


class TransferReversal(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUSED = "refused", "Refused by Stripe (booked to the platform)"

    TRANSITIONS = {
        "pending": {"succeeded", "refused"},
        "succeeded": set(),
        "refused": set(),
    }

    class Purpose(models.TextChoices):
        # A refund after payout: the platform fronted the expert's part and gets it back.
        REFUND = "refund", "Refund after payout"
        # An operator takes back a payout (console): the money returns to the expert's available
        # balance, as if the transfer had failed, and is paid by a later payout.
        OPERATOR = "operator", "Operator reversal"

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="reversals")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.REFUND)
    refund = models.OneToOneField(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="reversal"
    )
    ref = models.CharField(max_length=200, unique=True)
    amount_cents = models.PositiveBigIntegerField()
    stripe_reversal_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    @property
    def idempotency_key(self) -> str:
        return f"transfer-reversal-{self.pk}"


class StripeInstallation(models.Model):
    """One row per database: the random prefix of every idempotency key this installation sends
    to Stripe (billing.stripe_gateway). Our keys derive from row ids (`payout-<id>`), which
    repeat across databases: two installations sharing a Stripe account, or two test databases
    against one local Stripe, would otherwise replay each other's requests. Made on first use,
    never changed, so a retry of the same row always sends the same key."""

    key_prefix = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class MoneyAction(models.Model):
    """A manual money action of an operator in the console, once per confirmation form.

    At or below the approval threshold it is executed when proposed; above it, it waits for a
    second operator (the mechanism of dispute decisions: proposer and approver must differ).
    `summary` is the one line shown on the confirmation page and to the approver."""

    class Kind(models.TextChoices):
        CREDIT_GRANT = "credit_grant", "Grant credit"
        CREDIT_REVOKE = "credit_revoke", "Revoke credit"
        PAYOUT_MARK_FAILED = "payout_mark_failed", "Mark payout failed"
        PAYOUT_RETRY = "payout_retry", "Retry payout"
        PAYOUT_REVERSE = "payout_reverse", "Reverse payout transfer"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second operator"
        EXECUTED = "executed", "Executed"
        REFUSED = "refused", "Refused (the money had moved on)"
        REJECTED = "rejected", "Rejected by the second operator"

    TRANSITIONS = {
        "awaiting_approval": {"executed", "refused", "rejected"},
        "executed": set(),
        "refused": set(),
        "rejected": set(),
    }

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=32, choices=Status.choices, db_index=True)
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    payout = models.ForeignKey(
        Payout, on_delete=models.PROTECT, null=True, blank=True, related_name="money_actions"
    )
    organization = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    summary = models.CharField(max_length=300)
    reason = models.CharField(max_length=500)
    outcome = models.CharField(max_length=500, blank=True)
    threshold_cents = models.PositiveBigIntegerField()
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # One per rendering of the confirmation form: a double click, a reload that re-POSTs or a
    # retry after a timeout finds this row and does nothing again.
    request_token = models.UUIDField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


# The status history of each stateful model above (written by marketplace.transitions only).


class HoldStatusChange(StatusHistory):
    hold = models.ForeignKey(Hold, on_delete=models.CASCADE, related_name="history")


class PlatformHoldGrantStatusChange(StatusHistory):
    grant = models.ForeignKey(PlatformHoldGrant, on_delete=models.CASCADE, related_name="history")


class EarningStatusChange(StatusHistory):
    earning = models.ForeignKey(Earning, on_delete=models.CASCADE, related_name="history")


class FundingStatusChange(StatusHistory):
    funding = models.ForeignKey(Funding, on_delete=models.CASCADE, related_name="history")


class TransferReversalStatusChange(StatusHistory):
    reversal = models.ForeignKey(TransferReversal, on_delete=models.CASCADE, related_name="history")


class MoneyActionStatusChange(StatusHistory):
    action = models.ForeignKey(MoneyAction, on_delete=models.CASCADE, related_name="history")
