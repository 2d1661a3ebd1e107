"""Read-only admin for money: every change goes through billing services (and the ledger is
append-only), so the admin can look but never edit, add or delete."""

from __future__ import annotations

from django.contrib import admin

from billing.models import (
    ConnectedAccount,
    CreditGrant,
    Earning,
    EarningStatusChange,
    Funding,
    FundingStatusChange,
    Hold,
    HoldStatusChange,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    MoneyAction,
    MoneyActionStatusChange,
    Payout,
    PayoutRun,
    PayoutStatusChange,
    PlatformHoldGrant,
    PlatformHoldGrantStatusChange,
    Refund,
    StripeEvent,
    StripeInstallation,
    TransferReversal,
    TransferReversalStatusChange,
)
from marketplace.admin_readonly import ReadOnlyAdmin, ReadOnlyInline, StatusHistoryAdmin


class EntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "amount_cents"]
    readonly_fields = fields


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["ref", "reason", "organization", "created_at"]
    list_filter = ["reason"]
    search_fields = ["ref", "memo"]
    inlines = [EntryInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["kind", "owner_key", "currency", "balance_cents"]
    list_filter = ["kind"]
    search_fields = ["owner_key"]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["pk", "user", "amount_cents", "status", "stripe_transfer_id", "created_at"]
    list_filter = ["status"]
    search_fields = ["user__email", "stripe_transfer_id"]


@admin.register(Earning)
class EarningAdmin(ReadOnlyAdmin):
    list_display = ["ref", "user", "amount_cents", "fee_cents", "refunded_cents", "status"]
    list_filter = ["status"]
    search_fields = ["ref", "user__email"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "received_at", "processed_at", "outcome"]
    list_filter = ["type"]
    search_fields = ["id"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["transaction", "account", "amount_cents", "created_at"]
    list_filter = ["account__kind"]
    search_fields = ["transaction__ref", "account__owner_key"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["ref", "organization", "payer", "amount_cents", "captured_cents", "status"]
    list_filter = ["status", "payer"]
    search_fields = ["ref", "organization__name"]


@admin.register(Funding)
class FundingAdmin(ReadOnlyAdmin):
    list_display = ["organization", "amount_cents", "status", "stripe_payment_intent_id"]
    list_filter = ["status"]
    search_fields = ["organization__name", "stripe_payment_intent_id"]
    exclude = ["client_secret"]


@admin.register(CreditGrant)
class CreditGrantAdmin(ReadOnlyAdmin):
    list_display = ["organization", "amount_cents", "reason", "actor", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["organization__name", "reason"]


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "stripe_account_id", "payouts_enabled", "details_submitted"]
    list_filter = ["payouts_enabled", "details_submitted"]
    search_fields = ["user__email", "stripe_account_id"]


@admin.register(PayoutRun)
class PayoutRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "started_at", "finished_at", "payouts_created", "stripe_calls"]
    list_filter = ["started_at"]
    search_fields = ["pk"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["earning", "amount_cents", "expert_cents", "fee_cents", "actor", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["earning__ref", "reason"]


@admin.register(TransferReversal)
class TransferReversalAdmin(ReadOnlyAdmin):
    list_display = ["ref", "payout", "amount_cents", "status", "stripe_reversal_id"]
    list_filter = ["status"]
    search_fields = ["ref", "stripe_reversal_id"]


@admin.register(PlatformHoldGrant)
class PlatformHoldGrantAdmin(ReadOnlyAdmin):
    list_display = ["source_ref", "organization", "status", "created_at", "used_at"]
    list_filter = ["status"]
    search_fields = ["source_ref", "scope", "organization__name"]


@admin.register(StripeInstallation)
class StripeInstallationAdmin(ReadOnlyAdmin):
    list_display = ["key_prefix", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["key_prefix"]


@admin.register(MoneyAction)
class MoneyActionAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "kind",
        "status",
        "amount_cents",
        "proposed_by",
        "decided_by",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["summary", "reason", "proposed_by__email"]


for history in (
    HoldStatusChange,
    PlatformHoldGrantStatusChange,
    EarningStatusChange,
    FundingStatusChange,
    PayoutStatusChange,
    TransferReversalStatusChange,
    MoneyActionStatusChange,
):
    admin.site.register(history, StatusHistoryAdmin)
