"""Channel group names and broadcasts: one place, so producers and consumers agree."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis import RedisError

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def workspace_group(assignment_id: Any) -> str:
    return f"workspace.{assignment_id}"


def request_group(review_request_id: Any) -> str:
    return f"request.{review_request_id}"


def group_send_now(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except (RedisError, OSError) as exc:
        # What it announces is committed, and pages show it on their next load: a channel layer
        # that is down (Redis restarting, `make run` not up while a manage.py command runs)
        # loses the live event, and must not turn the committed change into a 500 or a task
        # marked failed after its work was done.
        logger.warning(
            "live event for %s not sent: the channel layer is unreachable (%s)", group, exc
        )


# Where broadcast_on_commit puts its messages instead of sending them (see holding_broadcasts).
_outbox: ContextVar[list[tuple[str, dict[str, Any]]] | None] = ContextVar(
    "broadcast_outbox", default=None
)


def _send_or_hold(group: str, message: dict[str, Any]) -> None:
    outbox = _outbox.get()
    if outbox is None:
        group_send_now(group, message)
    else:
        outbox.append((group, message))


def broadcast_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send after the surrounding transaction commits, so nobody sees unsaved state."""
    transaction.on_commit(lambda: _send_or_hold(group, message))


def holding_broadcasts(func: Callable, outbox: list[tuple[str, dict[str, Any]]]) -> Callable:
    """`func`, run so that what it broadcasts on commit is appended to `outbox` (group, message),
    in commit order, instead of sent. For a consumer that runs a service in a worker thread: it
    sends the outbox from its own event loop once the call has returned, where the thread would
    otherwise hop back to that loop (async_to_sync) and wait there for Redis, once per frame."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        token = _outbox.set(outbox)
        try:
            return func(*args, **kwargs)
        finally:
            _outbox.reset(token)

    return run


def rights_changed(user_id: int) -> None:
    """Every socket of this user re-checks, after commit, whether it may still be open (its
    session still logs the user in, the user is not suspended, the consumer's own `authorize`
    still agrees) and closes itself if not (UserSocketConsumer.rights_changed).

    Why a broadcast rather than a check on every delivered message: a workspace event reaches
    every socket of the workspace, and a database read per delivery would multiply the cost of
    each frame by its audience, while rights change a few times a day. Through the user's group
    the re-check runs only when something changed, in whichever process holds the socket (the
    group lives in the channel layer). What can slip through is what was delivered between the
    commit and this message's arrival, milliseconds apart; a consumer handles one message at a
    time, so nothing is delivered while it re-checks."""
    broadcast_on_commit(user_group(user_id), {"type": "rights.changed"})


def close_user_sockets(user_id: int, *, code: int = 4401, reason: str = "logged_out") -> None:
    """Every consumer joins its user's group; this closes all of them (logout, suspension)."""
    broadcast_on_commit(
        user_group(user_id), {"type": "force.close", "code": code, "reason": reason}
    )
