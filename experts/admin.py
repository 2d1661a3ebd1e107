from __future__ import annotations

from django.contrib import admin

from experts.models import (
    AvailabilityWindow,
    CompanyBlock,
    Credential,
    CredentialStatusChange,
    ExpertProfile,
    ExpertSpecialization,
    GoldenItem,
    MatchRow,
    QualificationAttempt,
    QualificationAttemptStatusChange,
    QualificationTest,
    Rating,
    Specialization,
    SpecializationStanding,
    TimeOff,
)
from marketplace.admin_readonly import ReadOnlyAdmin, StatusHistoryAdmin


class SpecializationInline(admin.TabularInline):
    model = ExpertSpecialization
    extra = 0


class AvailabilityInline(admin.TabularInline):
    model = AvailabilityWindow
    extra = 0


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


@admin.register(ExpertProfile)
class ExpertProfileAdmin(admin.ModelAdmin):
    # Saves go through model signals that rebuild the matching cache (experts.receivers).
    list_display = ["display_name", "user", "hourly_rate_cents", "timezone", "accepting_work"]
    list_filter = ["accepting_work", "always_available"]
    search_fields = ["display_name", "user__email"]
    raw_id_fields = ["user"]
    inlines = [SpecializationInline, AvailabilityInline, TimeOffInline]


@admin.register(Specialization)
class SpecializationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "requires_credentials"]
    list_filter = ["depth", "requires_credentials"]
    search_fields = ["slug", "name"]


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["expert", "kind", "field", "status", "expires_on", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["expert__display_name", "expert__user__email", "issuer", "number"]
    raw_id_fields = ["expert", "reviewed_by"]
    # Verified or rejected only from the console's credential queue (history row, notification).
    readonly_fields = ["status", "reviewed_by", "reviewed_at", "rejection_reason"]


@admin.register(ExpertSpecialization)
class ExpertSpecializationAdmin(admin.ModelAdmin):
    list_display = ["expert", "specialization", "years"]
    list_filter = ["specialization__parent"]
    search_fields = ["expert__display_name", "specialization__slug"]
    raw_id_fields = ["expert"]


@admin.register(AvailabilityWindow)
class AvailabilityWindowAdmin(admin.ModelAdmin):
    list_display = ["expert", "weekday", "start_minute", "end_minute"]
    list_filter = ["weekday"]
    search_fields = ["expert__display_name"]
    raw_id_fields = ["expert"]


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ["expert", "start_date", "end_date", "note"]
    list_filter = ["start_date"]
    search_fields = ["expert__display_name", "note"]
    raw_id_fields = ["expert"]


@admin.register(CompanyBlock)
class CompanyBlockAdmin(admin.ModelAdmin):
    list_display = ["organization", "expert", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["organization__name", "expert__display_name"]
    raw_id_fields = ["organization", "expert"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["expert", "organization", "score", "created_at"]
    list_filter = ["score"]
    search_fields = ["expert__display_name", "organization__name", "comment"]
    raw_id_fields = ["expert", "organization"]


@admin.register(MatchRow)
class MatchRowAdmin(ReadOnlyAdmin):
    """A derived cache (rebuilt from profiles by experts.receivers): look, never edit."""

    list_display = ["expert", "node", "exact", "rate_cents", "current_load"]
    list_filter = ["exact", "always_available"]
    search_fields = ["expert__display_name", "node__slug"]


admin.site.register(CredentialStatusChange, StatusHistoryAdmin)
admin.site.register(QualificationAttemptStatusChange, StatusHistoryAdmin)


# Proven experts: golden items and standings change through their services and the console
# (golden pages); the admin reads them.
@admin.register(GoldenItem)
class GoldenItemAdmin(ReadOnlyAdmin):
    list_display = ["title", "specialization", "organization", "expected_verdict", "tolerance"]
    list_filter = ["expected_verdict", "specialization"]
    search_fields = ["title", "organization__name"]


@admin.register(QualificationTest)
class QualificationTestAdmin(ReadOnlyAdmin):
    list_display = ["specialization", "pass_threshold", "live_rate", "updated_at"]
    list_filter = ["specialization"]
    search_fields = ["specialization__slug", "specialization__name"]


@admin.register(QualificationAttempt)
class QualificationAttemptAdmin(ReadOnlyAdmin):
    list_display = ["expert", "specialization", "status", "items_correct", "items_total"]
    list_filter = ["status", "specialization"]
    search_fields = ["expert__display_name", "expert__user__email"]


@admin.register(SpecializationStanding)
class SpecializationStandingAdmin(ReadOnlyAdmin):
    list_display = ["expert", "specialization", "qualified_at", "golden_correct", "golden_total"]
    list_filter = ["specialization", "suspended_at"]
    search_fields = ["expert__display_name", "expert__user__email"]
