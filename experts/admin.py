from __future__ import annotations

from django.contrib import admin

from experts.models import (
    AvailabilityWindow,
    CompanyBlock,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    Rating,
    Specialization,
    TimeOff,
)


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


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["expert", "kind", "field", "status", "expires_on", "created_at"]
    list_filter = ["status", "kind"]
    raw_id_fields = ["expert", "reviewed_by"]


admin.site.register(CompanyBlock)
admin.site.register(Rating)
