"""Writes of exports: creating one (validated, at most EXPORTS_MAX_ACTIVE queued or running per
organization), running it (datasets.writer streams the file), and failing those whose worker
died. Every status change goes through marketplace.transitions."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from datasets import selectors
from datasets.formats import SCHEMA_VERSIONS
from datasets.models import Export
from datasets.schemas import ExportFiltersIn, filters_clean
from marketplace.models import Organization
from marketplace.transitions import InvalidTransition, record_initial, transition


class ExportRefused(Exception):
    """A rule said no: `status` and `code` are what the API answers (409, 422)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _check_filters(filters: ExportFiltersIn) -> None:
    if filters.specialization and filters.specialization not in selectors.specialization_slugs():
        raise ExportRefused(
            422,
            "validation_error",
            f"Unknown specialization {filters.specialization!r}: use a slug of "
            "GET /api/v1/specializations.",
            field="filters.specialization",
        )


def _database_task_backend() -> bool:
    # From the setting, as review_requests.services does: under ASGI each request builds its
    # own backend objects on first use.
    from django_tasks_db.backend import DatabaseBackend

    return issubclass(import_string(settings.TASKS["default"]["BACKEND"]), DatabaseBackend)


def _enqueue_run(export_id: str) -> None:
    from datasets.tasks import export_run_task

    export_run_task.enqueue(export_id)


def _enqueue_on_commit(export_id: str) -> None:
    """With the database task backend the task row commits with the export (never one without
    the other); other backends (the immediate one in tests) run after commit."""
    if _database_task_backend():
        _enqueue_run(export_id)
    else:
        transaction.on_commit(lambda: _enqueue_run(export_id))


def export_create(
    *, organization, format: str, filters: ExportFiltersIn, user=None, api_key=None
) -> Export:
    """Queue an export of `organization`'s reviewed data. Refused (409 too_many_exports) while
    the organization already has EXPORTS_MAX_ACTIVE exports queued or running: the check runs
    under the organization's row lock, so two concurrent creates cannot both pass it."""
    if format not in SCHEMA_VERSIONS:
        raise ExportRefused(422, "validation_error", "Unknown format.", field="format")
    _check_filters(filters)
    limit = settings.EXPORTS_MAX_ACTIVE
    with transaction.atomic(durable=True):
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        if selectors.exports_active_count(organization=organization) >= limit:
            raise ExportRefused(
                409,
                "too_many_exports",
                f"{limit} exports are already queued or running; wait for one to finish.",
            )
        export = Export.objects.create(
            organization=organization,
            created_by=user if user is not None and user.is_authenticated else None,
            created_by_key=api_key,
            format=format,
            filters=filters_clean(filters),
            schema_version=SCHEMA_VERSIONS[format],
        )
        record_initial(export, actor=export.created_by)
        _enqueue_on_commit(str(export.pk))
    return export


def export_start(*, export: Export) -> bool:
    """queued -> running; False when there is nothing to do (finished, or gone). A `running`
    export was claimed before by a worker that died (the lease gave the task back): it starts
    again from the first row."""
    if export.status == Export.Status.QUEUED:
        now = timezone.now()
        transition(
            export, Export.Status.RUNNING, reason="worker", started_at=now, progressed_at=now
        )
        return True
    return export.status == Export.Status.RUNNING


def export_progress(*, export: Export, rows_done: int, rows_total: int | None = None) -> None:
    fields = {"rows_done": rows_done, "progressed_at": timezone.now()}
    if rows_total is not None:
        fields["rows_total"] = rows_total
    Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING).update(**fields)


def export_complete(
    *, export: Export, name: str, sha256: str, rows: int, rows_done: int, size_bytes: int
) -> None:
    transition(
        export,
        Export.Status.COMPLETED,
        reason="written",
        file=name,
        sha256=sha256,
        rows=rows,
        rows_done=rows_done,
        size_bytes=size_bytes,
        finished_at=timezone.now(),
    )


def export_fail(*, export: Export, error: str) -> None:
    """Mark failed with the error, unless it finished meanwhile (a lost race is not an error)."""
    try:
        transition(
            export,
            Export.Status.FAILED,
            reason="error",
            error=error[:2000],
            finished_at=timezone.now(),
        )
    except InvalidTransition:
        export.refresh_from_db()


STALE_AFTER = timedelta(minutes=15)


def exports_fail_stale() -> int:
    """Periodic: a running export that has not moved for STALE_AFTER lost its worker for good
    (the task ran out of claims): failed, so it no longer holds one of the organization's
    slots. A live export moves its `progressed_at` on every chunk."""
    cutoff = timezone.now() - STALE_AFTER
    failed = 0
    for export in Export.objects.filter(status=Export.Status.RUNNING, progressed_at__lt=cutoff):
        export_fail(
            export=export, error="The export stopped: its worker went away. Create it again."
        )
        failed += export.status == Export.Status.FAILED
    return failed
