from __future__ import annotations

from django.contrib import admin

from datasets.models import Export, ExportStatusChange
from marketplace.admin_readonly import ReadOnlyAdmin, StatusHistoryAdmin


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ["id", "organization", "format", "status", "rows", "created_at"]
    list_filter = ["status", "format"]
    search_fields = ["id", "organization__name", "sha256"]
    list_select_related = ["organization"]


admin.site.register(ExportStatusChange, StatusHistoryAdmin)
