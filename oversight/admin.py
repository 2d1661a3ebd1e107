"""Read-only admin: policies change only through oversight.services (versions, audit log)."""

from __future__ import annotations

from django.contrib import admin

from marketplace.admin_readonly import ReadOnlyAdmin
from oversight.models import OversightSettings, Policy, PolicyVersion


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "is_default", "created_at"]
    list_filter = ["is_default", "created_at"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["policy", "number", "note", "created_by", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["policy__name", "policy__organization__name", "note"]
    list_select_related = ["policy", "created_by"]


@admin.register(OversightSettings)
class OversightSettingsAdmin(ReadOnlyAdmin):
    list_display = ["organization", "auto_approved_webhook", "updated_at"]
    list_filter = ["auto_approved_webhook"]
    search_fields = ["organization__name"]
    list_select_related = ["organization"]
