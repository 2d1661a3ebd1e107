"""A task whose worker died goes back to the queue (marketplace.worker_lease).

The end-to-end case, a worker SIGKILLed mid-task on the real processes, is in
tests/system/test_scale_out.py and tests/system/test_running_system.py."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from marketplace.models import WorkerHeartbeat
from marketplace.worker_lease import Heartbeat, tasks_recover_abandoned, worker_beat

pytestmark = pytest.mark.django_db

LEASE = 60


@pytest.fixture(autouse=True)
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.WORKER_LEASE_SECONDS = LEASE
    settings.WORKER_MAX_ATTEMPTS = 3


def claimed(*, workers: list[str], seconds_ago: float) -> DBTaskResult:
    """A queued task, claimed by `workers` in turn, the last claim `seconds_ago`."""
    from review_requests.tasks import idempotency_prune

    result = idempotency_prune.enqueue()
    row = DBTaskResult.objects.get(pk=result.id)
    for worker in workers:
        row.claim(worker)
    DBTaskResult.objects.filter(pk=row.pk).update(
        started_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    return row


def beating(worker_id: str, *, seconds_ago: float) -> None:
    worker_beat(worker_id=worker_id, started_at=timezone.now() - timedelta(hours=1))
    WorkerHeartbeat.objects.filter(worker_id=worker_id).update(
        beat_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def status_of(row: DBTaskResult) -> str:
    return DBTaskResult.objects.get(pk=row.pk).status


@pytest.mark.parametrize(
    ("workers", "started_ago", "beats", "expected"),
    [
        # the worker never beat (or its row is gone) and the claim is older than the lease
        (["dead"], LEASE + 5, {}, TaskResultStatus.READY),
        # its last beat is older than the lease
        (["dead"], LEASE + 5, {"dead": LEASE + 1}, TaskResultStatus.READY),
        # a long task of a worker that still beats is left alone
        (["alive"], LEASE * 10, {"alive": 5}, TaskResultStatus.RUNNING),
        # a claim younger than the lease is left alone, beat or not
        (["new"], LEASE - 5, {}, TaskResultStatus.RUNNING),
        # the first worker died, the one that took it over is alive
        (["dead", "alive"], LEASE + 5, {"alive": 1}, TaskResultStatus.RUNNING),
        # the second worker died too: back once more
        (["dead", "dead-too"], LEASE + 5, {"dead": LEASE * 2}, TaskResultStatus.READY),
        # three workers died on it: it is not tried a fourth time
        (["a", "b", "c"], LEASE + 5, {}, TaskResultStatus.FAILED),
    ],
)
def test_a_running_task_goes_back_only_when_its_worker_stopped_beating(
    workers, started_ago, beats, expected
):
    for worker_id, ago in beats.items():
        beating(worker_id, seconds_ago=ago)
    row = claimed(workers=workers, seconds_ago=started_ago)

    recovered = tasks_recover_abandoned()

    assert status_of(row) == expected
    assert (str(row.pk) in recovered.requeued) == (expected == TaskResultStatus.READY)
    assert (str(row.pk) in recovered.failed) == (expected == TaskResultStatus.FAILED)


def test_a_task_handed_back_is_claimed_again_like_any_ready_task():
    row = claimed(workers=["dead"], seconds_ago=LEASE + 5)
    tasks_recover_abandoned()
    assert DBTaskResult.objects.ready().filter(pk=row.pk).exists()
    taken = DBTaskResult.objects.ready().get_locked()
    taken.claim("survivor")
    taken.refresh_from_db()
    assert taken.worker_ids == ["dead", "survivor"]


def test_a_task_failed_after_too_many_lost_workers_says_why():
    row = claimed(workers=["a", "b", "c"], seconds_ago=LEASE + 5)
    tasks_recover_abandoned()
    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED
    assert row.exception_class_path == "marketplace.worker_lease.WorkerLost"
    assert "3 workers stopped while running this task (a, b, c)" in row.traceback
    assert row.finished_at is not None


def test_finished_and_ready_tasks_are_never_touched():
    old = timezone.now() - timedelta(seconds=LEASE * 5)
    done = claimed(workers=["dead"], seconds_ago=LEASE * 5)
    done.set_successful(1)
    waiting = claimed(workers=[], seconds_ago=0)
    DBTaskResult.objects.filter(pk=waiting.pk).update(enqueued_at=old)

    recovered = tasks_recover_abandoned()

    assert recovered.requeued == [] and recovered.failed == []
    assert status_of(done) == TaskResultStatus.SUCCESSFUL
    assert status_of(waiting) == TaskResultStatus.READY


def test_a_second_recovery_of_the_same_claim_changes_nothing():
    row = claimed(workers=["dead"], seconds_ago=LEASE + 5)
    assert tasks_recover_abandoned().requeued == [str(row.pk)]
    assert tasks_recover_abandoned().requeued == []


@pytest.mark.django_db(transaction=True)  # the thread has a connection of its own
def test_the_heartbeat_beats_while_it_runs_and_leaves_when_stopped(settings):
    settings.WORKER_LEASE_SECONDS = 4  # a beat each second
    heartbeat = Heartbeat("beating-worker")
    heartbeat.start()
    try:
        first = WorkerHeartbeat.objects.get(worker_id="beating-worker").beat_at
        deadline = timezone.now() + timedelta(seconds=10)
        while timezone.now() < deadline:
            latest = WorkerHeartbeat.objects.get(worker_id="beating-worker").beat_at
            if latest > first:
                break
            time.sleep(0.1)
        assert latest > first, "the thread beat again"
    finally:
        heartbeat.stop()
    assert not WorkerHeartbeat.objects.filter(worker_id="beating-worker").exists()


def test_heartbeats_of_workers_gone_a_day_are_dropped():
    beating("long-gone", seconds_ago=86_400 + 60)
    beating("recent", seconds_ago=LEASE * 2)
    tasks_recover_abandoned()
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["recent"]
