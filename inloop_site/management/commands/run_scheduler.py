"""The scheduler process: enqueues periodic tasks (see inloop_site/schedule.py)."""

from __future__ import annotations

import contextlib
import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from inloop_site.schedule import SCHEDULE

logger = logging.getLogger("inloop.scheduler")


def _enqueue(task_path: str) -> None:
    task = import_string(task_path)
    result = task.enqueue()
    logger.info("enqueued %s as %s", task_path, result.id)


class Command(BaseCommand):
    help = "Enqueue periodic tasks on their schedule (runs until stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="Print the schedule and exit.")

    def handle(self, *args, **options):
        if options["list"]:
            for task_path, trigger, kwargs in SCHEDULE:
                self.stdout.write(f"{task_path}: {trigger} {kwargs}")
            return
        scheduler = BlockingScheduler(timezone="UTC")
        for task_path, trigger, kwargs in SCHEDULE:
            import_string(task_path)  # fail at start, not at the first tick
            scheduler.add_job(
                _enqueue,
                trigger,
                args=[task_path],
                id=task_path,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=60,
                **kwargs,
            )
        self.stdout.write(f"Scheduler started with {len(SCHEDULE)} periodic tasks.")
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            scheduler.start()
