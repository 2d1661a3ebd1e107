"""Leases for task workers: a task whose worker died goes back to the queue.

django_tasks_db (0.13) claims a task by marking its row RUNNING with the worker's id and never
looks at a RUNNING row again, so a worker killed mid-task (SIGKILL, OOM, a lost machine) left
its task unfinished for good. Each `run_worker` process now beats in `WorkerHeartbeat` every
quarter of the lease, from a thread of its own (so a long task does not stop the beat), and
removes its row when it stops cleanly. Between passes every worker looks for RUNNING tasks that
started longer than a lease ago and whose last worker has no beat within the lease, and hands
them back: READY again, or FAILED after `WORKER_MAX_ATTEMPTS` claims (a task that kills its
worker each time must not kill them all in turn).

Every periodic task is written to be safe to run twice (schedule.py), and so are the tasks
enqueued by services (webhook attempts are claimed on the event row, matching re-reads what is
open). A worker that was only paused past its lease and then resumes finishes its run too: the
lease trades that rare second run for never losing a task.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from marketplace.models import WorkerHeartbeat

logger = logging.getLogger("inloop.worker")


class WorkerLost(Exception):
    """Recorded as the error of a task whose workers died on it too many times."""


@dataclass(frozen=True)
class Recovered:
    requeued: list[str]
    failed: list[str]


def lease() -> timedelta:
    return timedelta(seconds=settings.WORKER_LEASE_SECONDS)


def beat_seconds() -> float:
    """How often a worker beats, and looks for dead workers' tasks: a quarter of the lease."""
    return settings.WORKER_LEASE_SECONDS / 4


def worker_beat(*, worker_id: str, started_at: datetime) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"beat_at": now},
        create_defaults={
            "beat_at": now,
            "started_at": started_at,
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
        },
    )


def worker_forget(*, worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def tasks_recover_abandoned(*, now: datetime | None = None) -> Recovered:
    """Hand back every RUNNING task whose worker stopped beating more than a lease ago."""
    now = now or timezone.now()
    cutoff = now - lease()
    alive = set(
        WorkerHeartbeat.objects.filter(beat_at__gte=cutoff).values_list("worker_id", flat=True)
    )
    candidates = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=cutoff
    ).values("id", "started_at", "worker_ids", "task_path")
    requeued: list[str] = []
    failed: list[str] = []
    for row in candidates:
        worker_ids = row["worker_ids"] or []
        if worker_ids and worker_ids[-1] in alive:
            continue
        # Conditional on the claim we saw: a worker that re-claimed it meanwhile keeps it.
        same_claim = DBTaskResult.objects.filter(
            pk=row["id"], status=TaskResultStatus.RUNNING, started_at=row["started_at"]
        )
        if len(worker_ids) >= settings.WORKER_MAX_ATTEMPTS:
            message = (
                f"{len(worker_ids)} workers stopped while running this task "
                f"({', '.join(worker_ids)}); it is not tried again."
            )
            changed = same_claim.update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
                traceback=f"{WorkerLost.__qualname__}: {message}\n",
            )
            if changed:
                failed.append(str(row["id"]))
                logger.error("Task %s (%s) failed: %s", row["id"], row["task_path"], message)
        else:
            changed = same_claim.update(status=TaskResultStatus.READY)
            if changed:
                requeued.append(str(row["id"]))
                logger.warning(
                    "Task %s (%s) handed back: worker %s stopped beating",
                    row["id"],
                    row["task_path"],
                    worker_ids[-1] if worker_ids else "?",
                )
    # Rows of workers gone for good are kept a day, for the operator's eye, then dropped.
    WorkerHeartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()
    return Recovered(requeued=requeued, failed=failed)


class Heartbeat:
    """The beating thread of one worker process."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.started_at = timezone.now()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        worker_beat(worker_id=self.worker_id, started_at=self.started_at)  # before any claim
        self.thread.start()

    def run(self) -> None:
        try:
            while not self.stopped.wait(beat_seconds()):
                try:
                    close_old_connections()
                    worker_beat(worker_id=self.worker_id, started_at=self.started_at)
                except Exception:  # a database hiccup must not stop the beat for good
                    logger.exception("Worker %s could not beat", self.worker_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        try:
            worker_forget(worker_id=self.worker_id)
        except Exception:
            logger.exception("Worker %s could not remove its heartbeat", self.worker_id)
