"""Read-only admin for review requests and everything under them: state moves only through
review_requests.services (history rows, holds, webhooks), so the admin can look, search and
filter, never edit. Operators act from the console."""

from __future__ import annotations

from django.contrib import admin

from marketplace.admin_readonly import ReadOnlyAdmin, ReadOnlyInline, StatusHistoryAdmin
from review_requests.models import (
    Annotation,
    Assignment,
    AssignmentStatusChange,
    Dispute,
    DisputeStatusChange,
    GoldenRun,
    IdempotencyRecord,
    Offer,
    OfferStatusChange,
    RequestStatusChange,
    Review,
    ReviewRequest,
    ReviewSettings,
    WebhookAttempt,
    WebhookEvent,
    WorkInterval,
    WorkspaceEvent,
)


@admin.register(ReviewRequest)
class ReviewRequestAdmin(ReadOnlyAdmin):
    list_display = ["title", "organization", "specialization", "status", "created_at"]
    list_filter = ["status", "content_type", "waiting_for_funds", "oversight_outcome", "audit"]
    search_fields = ["id", "title", "organization__name", "model_name"]
    date_hierarchy = "created_at"
    list_select_related = ["organization", "specialization"]


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["review_request", "expert", "rate_cents", "status", "expires_at"]
    list_filter = ["status"]
    search_fields = ["id", "review_request__title", "expert__user__email"]
    list_select_related = ["review_request", "expert"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "review_request", "expert", "status", "billed_seconds", "cost_cents"]
    list_filter = ["status"]
    search_fields = ["id", "review_request__title", "expert__user__email", "hold_ref"]
    list_select_related = ["review_request", "expert"]


@admin.register(WorkspaceEvent)
class WorkspaceEventAdmin(ReadOnlyAdmin):
    list_display = ["assignment", "seq", "kind", "actor", "created_at"]
    list_filter = ["kind"]
    search_fields = ["assignment__id"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["assignment", "start", "end", "severity", "deleted_at"]
    list_filter = ["severity"]
    search_fields = ["assignment__id", "quote", "comment"]


@admin.register(WorkInterval)
class WorkIntervalAdmin(ReadOnlyAdmin):
    list_display = [
        "assignment",
        "socket",
        "started_at",
        "last_heartbeat_at",
        "socket_closed_at",
        "closed",
    ]
    list_filter = ["closed"]
    search_fields = ["assignment__id"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["assignment", "verdict", "submitted_at"]
    list_filter = ["verdict"]
    search_fields = ["assignment__id", "summary"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "organization", "endpoint", "response_status", "created_at"]
    list_filter = ["endpoint", "response_status"]
    search_fields = ["key", "organization__name"]


class AttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["number", "status_code", "latency_ms", "succeeded", "error", "created_at"]
    readonly_fields = fields


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "organization", "type", "attempts", "delivered_at", "gave_up_at"]
    list_filter = ["type"]
    search_fields = ["id", "organization__name", "url"]
    inlines = [AttemptInline]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ["event", "number", "status_code", "latency_ms", "succeeded", "created_at"]
    list_filter = ["succeeded"]
    search_fields = ["event__id", "error"]


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ["id", "organization", "category", "status", "outcome", "created_at"]
    list_filter = ["status", "category", "outcome"]
    search_fields = ["id", "organization__name", "assignment__id", "description"]


for history in (
    RequestStatusChange,
    OfferStatusChange,
    AssignmentStatusChange,
    DisputeStatusChange,
):
    admin.site.register(history, StatusHistoryAdmin)


@admin.register(ReviewSettings)
class ReviewSettingsAdmin(ReadOnlyAdmin):
    list_display = ["organization", "adjudication_threshold", "updated_at"]
    list_filter = ["updated_at"]
    search_fields = ["organization__name"]
    list_select_related = ["organization"]


@admin.register(GoldenRun)
class GoldenRunAdmin(ReadOnlyAdmin):
    list_display = ["item", "expert", "correct", "scored_at", "created_at"]
    list_filter = ["correct"]
    search_fields = ["item__title", "expert__display_name"]
