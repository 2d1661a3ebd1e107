"""Background tasks of datasets (django-tasks; the Procfile's worker runs them)."""

from __future__ import annotations

from django_tasks import task


@task()
def export_run_task(export_id: str) -> str:
    """Write one export's file; returns the status it ended in."""
    from datasets.writer import export_write

    return export_write(export_id=export_id)


@task()
def exports_fail_stale() -> int:
    """Periodic: fail running exports whose worker went away for good."""
    from datasets.services import exports_fail_stale as fail_stale

    return fail_stale()
