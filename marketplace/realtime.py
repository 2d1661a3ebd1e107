"""Channel group names and broadcasts: one place, so producers and consumers agree."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def workspace_group(assignment_id: Any) -> str:
    return f"workspace.{assignment_id}"


def request_group(review_request_id: Any) -> str:
    return f"request.{review_request_id}"


def group_send_now(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


def broadcast_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send after the surrounding transaction commits, so nobody sees unsaved state."""
    transaction.on_commit(lambda: group_send_now(group, message))


def close_user_sockets(user_id: int, *, code: int = 4401, reason: str = "logged_out") -> None:
    """Every consumer joins its user's group; this closes all of them (logout, suspension)."""
    broadcast_on_commit(
        user_group(user_id), {"type": "force.close", "code": code, "reason": reason}
    )
