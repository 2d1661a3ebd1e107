"""Waking the task workers when work is enqueued, instead of letting them poll.

`db_worker --interval 1` looked for work once a second, so every step that goes through a task
(a create's matching and its offers, a submit's webhook) waited up to a second for nothing.
Each commit that enqueued a task on the database backend now publishes one message on a Redis
channel (the embedded Valkey, or REDIS_URL); `manage.py run_worker` subscribes to it and runs
what is ready as soon as one arrives, and still looks every `--interval` seconds for what a
wake did not announce (a publish that failed, a row written by hand).

A wake is sent on commit, never before: a worker woken earlier would not see the row yet and
would go back to sleep until its interval. Pub/sub keeps nothing for a worker that is not
listening, so nothing piles up while no worker runs; every worker hears every wake, and the
database decides who gets each task (the queue's row lock), as before.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django_tasks.signals import task_enqueued
from django_tasks_db.backend import DatabaseBackend

logger = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def wake_channel() -> str:
    """The channel's name, under the channel layer's prefix (each test run keeps to its own)."""
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
    return f"{prefix}:tasks.wake"


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                # Short timeouts: a wake only saves time, and a Redis that does not answer must
                # not hold up the caller of the commit.
                client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
                _clients[url] = client
    return client


def workers_wake() -> None:
    """Tell every waiting worker that a task is ready (right away: call it after commit)."""
    try:
        _redis().publish(wake_channel(), b"1")
    except (redis.RedisError, OSError) as exc:
        # The task is committed; a worker finds it at its next look (--interval).
        logger.warning("could not wake the task workers (%s); they find the task by polling", exc)


def workers_wake_on_commit() -> None:
    transaction.on_commit(workers_wake)


@receiver(task_enqueued)
def _wake_on_enqueue(sender, task_result, **kwargs) -> None:
    # django_tasks_db writes the row inside the caller's transaction, if any: wake once it
    # commits (at once in autocommit). Other backends run or keep tasks themselves.
    if isinstance(sender, type) and issubclass(sender, DatabaseBackend):
        workers_wake_on_commit()


class Wakeups:
    """A worker's subscription: `wait(timeout)` returns on a wake or after `timeout` seconds.
    Subscribed before the worker's first look for work, so a wake published while it runs
    tasks is kept in the connection and ends the next wait at once: none is lost between a
    look that found nothing and the wait that follows. Without Redis it polls once a second
    (as `db_worker --interval 1` did) and subscribes again; it says so once Redis has been
    away for `QUIET_SECONDS` (the Procfile starts the embedded Valkey beside the worker, and
    it may answer a few seconds after the worker's first look)."""

    QUIET_SECONDS = 15

    def __init__(self) -> None:
        self._client = None
        self._pubsub = None
        self._failing_since: float | None = None
        self._reported = False

    def open(self) -> None:
        try:
            # Kept with the subscription: a client that is collected closes its connections.
            self._client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(wake_channel())
            pubsub.get_message(timeout=2)  # the subscription's confirmation
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._pubsub = pubsub
        if self._reported:
            logger.warning("task wake-ups work again")
        self._failing_since = None
        self._reported = False

    def wait(self, timeout: float) -> bool:
        """True if woken (every wake queued so far is taken: one look covers them all)."""
        if self._pubsub is None:
            self.open()
            if self._pubsub is None:
                time.sleep(min(timeout, 1.0))
                return False
        try:
            woken = self._pubsub.get_message(timeout=timeout) is not None
            while woken and self._pubsub.get_message(timeout=0) is not None:
                pass
            return woken
        except (redis.RedisError, OSError) as exc:
            self.close()
            self._failed(exc)
            return False

    def close(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._pubsub.close()
                self._client.close()
            self._pubsub = None

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if not self._reported and now - self._failing_since >= self.QUIET_SECONDS:
            logger.warning("task wake-ups unavailable (%s); polling every second", exc)
            self._reported = True
