"""Read-only admin for money: every change goes through billing services (and the ledger is
append-only), so the admin can look but never edit, add or delete."""

from __future__ import annotations

from django.contrib import admin

from billing.models import (
    ConnectedAccount,
    CreditGrant,
    Earning,
    Funding,
    Hold,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutRun,
    PlatformHoldGrant,
    Refund,
    StripeEvent,
    StripeInstallation,
    TransferReversal,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "amount_cents"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


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


for model in (
    Hold,
    Funding,
    CreditGrant,
    ConnectedAccount,
    PayoutRun,
    TransferReversal,
    Refund,
    PlatformHoldGrant,
    StripeInstallation,
):
    admin.site.register(model, ReadOnlyAdmin)
