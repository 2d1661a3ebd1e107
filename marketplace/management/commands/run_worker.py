"""The task worker of the Procfile: django_tasks_db's worker, woken when work is enqueued.

`db_worker` sleeps `--interval` seconds whenever it finds nothing, so each task waited for the
next look (up to a second with `--interval 1`). This worker runs django_tasks_db's `Worker` in
its batch mode (everything that is ready, then return), then waits on the wake channel of
`marketplace.taskwake`, for at most `--interval` seconds, and starts again. Same queue, same
claim and row locks, same signals; `db_worker --batch` still runs what is queued and exits.

Between passes it also hands back the tasks of workers that died mid-task (marketplace.
worker_lease): it beats while it runs, and a RUNNING task whose worker stopped beating is queued
again.
"""

from __future__ import annotations

import logging
import os
import time

from django.core.management.base import CommandError
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

from marketplace.taskwake import Wakeups
from marketplace.worker_lease import Heartbeat, beat_seconds, tasks_recover_abandoned

logger = logging.getLogger("inloop.worker")


class WakingWorker(Worker):
    def __init__(self, **kwargs) -> None:
        # No start-up delay: it spreads a herd of pollers, and this worker does not poll.
        super().__init__(batch=True, startup_delay=False, max_tasks=None, **kwargs)
        self.wakeups = Wakeups()
        self.heartbeat = Heartbeat(self.worker_id)
        self.recovered_at = 0.0

    def run(self) -> None:
        logger.info(
            "Worker %s on queues %s, woken on enqueue, looking every %s s otherwise",
            self.worker_id,
            ",".join(self.queue_names),
            self.interval,
        )
        self.wakeups.open()  # before the first look: a wake during it is kept
        self.heartbeat.start()
        try:
            while self.running:
                super().run()  # batch mode: returns once nothing is ready
                if self.running and not self.recover_abandoned():
                    self.wakeups.wait(self.interval)
        finally:
            self.heartbeat.stop()
            self.wakeups.close()

    def recover_abandoned(self) -> bool:
        """Every quarter lease: requeue dead workers' tasks. True if any came back to run."""
        now = time.monotonic()
        if now - self.recovered_at < beat_seconds():
            return False
        self.recovered_at = now
        return bool(tasks_recover_abandoned().requeued)


class Command(DbWorkerCommand):
    help = "Run a database task worker that is woken when tasks are enqueued."

    def configure_logging(self, verbosity: int) -> None:
        super().configure_logging(verbosity)
        # The batch mode logs a start and an "exiting" line at INFO on every pass.
        if verbosity <= 1:
            logging.getLogger("django_tasks_db").setLevel(logging.WARNING)
        logger.setLevel(logging.INFO if verbosity else logging.CRITICAL)

    def handle(self, *, verbosity, queue_name, interval, batch, backend_name, reload, max_tasks,
               worker_id, exclude_queues, **options) -> None:  # fmt: skip
        if batch or max_tasks is not None:
            raise CommandError("--batch and --max-tasks are db_worker's: use manage.py db_worker")
        if interval <= 0:
            raise CommandError("--interval must be above 0: it is how often to look unwoken")
        self.configure_logging(verbosity)
        queue_names = queue_name.split(",")
        excluded = exclude_queues.split(",") if exclude_queues else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = WakingWorker(
            queue_names=queue_names,
            interval=interval,
            backend_name=backend_name,
            worker_id=worker_id,
            excluded_queue_names=excluded,
        )
        if reload:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                worker.configure_signals()
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()
