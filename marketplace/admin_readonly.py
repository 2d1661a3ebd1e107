"""Admin bases for records that change only through services (money, request state, history):
the admin can list, search, filter and open them, never add, edit or delete."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StatusHistoryAdmin(ReadOnlyAdmin):
    """The one admin of every marketplace.models.StatusHistory model (register each with it):
    who moved which row from what to what, and why. Written by marketplace.transitions only."""

    list_filter = ["to_status", "from_status", "created_at"]
    search_fields = ["reason", "actor__email", "to_status"]
    date_hierarchy = "created_at"

    def subject(self) -> str:
        from marketplace.transitions import history_subject

        return history_subject(self.model)

    def get_list_display(self, request):
        return [self.subject(), "from_status", "to_status", "actor", "reason", "created_at"]

    def get_list_select_related(self, request):
        return ["actor", self.subject()]
