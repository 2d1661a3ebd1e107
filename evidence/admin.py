from __future__ import annotations

from django.contrib import admin

from evidence.models import ChainHead, EvidenceAnchor, EvidenceEntry, WatchSession
from marketplace.admin_readonly import ReadOnlyAdmin


@admin.register(EvidenceEntry)
class EvidenceEntryAdmin(ReadOnlyAdmin):
    list_display = ["organization", "position", "kind", "review_request_id", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["review_request_id", "entry_hash", "organization__name"]
    list_select_related = ["organization"]


@admin.register(ChainHead)
class ChainHeadAdmin(ReadOnlyAdmin):
    list_display = ["organization", "position", "head_hash", "updated_at"]
    list_select_related = ["organization"]


@admin.register(EvidenceAnchor)
class EvidenceAnchorAdmin(ReadOnlyAdmin):
    list_display = ["day", "anchor_hash", "created_at"]


@admin.register(WatchSession)
class WatchSessionAdmin(ReadOnlyAdmin):
    list_display = ["review_request_id", "assignment_id", "user", "role", "joined_at"]
    list_filter = ["role"]
    list_select_related = ["user"]
