"""The per-user notifications socket, and the base every Inloop consumer builds on."""

from __future__ import annotations

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketplace.realtime import user_group
from marketplace.selectors import session_user_current

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    """Refuses anonymous and suspended users before accepting, and joins the user's group so
    logout, suspension and every change of rights (realtime.rights_changed) reach every socket
    the user holds, in whichever process holds it."""

    user_group_name: str | None = None
    closing = False
    # How database work runs off the event loop (the workspace passes its own, see there).
    db = staticmethod(database_sync_to_async)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if user.suspended_at is not None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Joined before `authorize` reads the rights: a right taken away after that read is
        # broadcast after its commit, so after this join, and reaches this socket.
        self.user_group_name = user_group(user.pk)
        await self.channel_layer.group_add(self.user_group_name, self.channel_name)
        allowed = await self.authorize(user)
        if not allowed:
            await self.channel_layer.group_discard(self.user_group_name, self.channel_name)
            self.user_group_name = None
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.after_accept(user)

    async def authorize(self, user) -> bool:
        """Whether `user` may hold this socket; asked at connect and on every rights.changed,
        with the user re-read from the database."""
        return True

    async def rights_changed(self, message: dict) -> None:
        """A right of this user changed somewhere (realtime.rights_changed): re-check on fresh
        rows and close if the socket may no longer be open. 4401 when the session no longer
        logs the user in (password changed, account deactivated), 4403 when a right is gone."""
        user = await self.db(session_user_current)(
            user_id=self.scope["user"].pk, session=self.scope.get("session")
        )
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        elif user.suspended_at is not None or not await self.authorize(user):
            await self.close(code=CLOSE_FORBIDDEN)

    async def after_accept(self, user) -> None:
        return None

    async def disconnect(self, code: int) -> None:
        # channels-redis keeps stale members for a day unless they are discarded.
        if self.user_group_name:
            await self.channel_layer.group_discard(self.user_group_name, self.channel_name)

    async def force_close(self, message: dict) -> None:
        await self.close(code=message.get("code", CLOSE_UNAUTHENTICATED))

    async def close(self, code=None, reason=None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        """Once this side has closed, nothing more goes out: a socket closed for a lost right
        must not forward what the channel layer still had queued for it.

        Between a client's close frame and the end of its connection, daphne still hands
        frames to autobahn, which refuses them with Disconnected; the websocket.disconnect that
        runs `disconnect()` (group_discard, presence leave) comes only after. A broadcast landing
        in that window must not kill the consumer, or the cleanup never runs and the socket lingers
        in its groups. The frame had nobody to go to: it is dropped."""
        if self.closing:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            return

    async def send_json(self, content, close=False) -> None:
        # Channels' send_json calls its parent's send directly; this one goes through the above.
        await self.send(text_data=await self.encode_json(content), close=close)

    async def notification_push(self, message: dict) -> None:
        """Only the notifications socket forwards these; others ignore them."""
        return None


class NotificationsConsumer(UserSocketConsumer):
    """Pushes `{"type": "notification", "notification": {...}}` as they are created."""

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json(
            {"type": "error", "code": "read_only", "message": "This socket only sends."}
        )

    async def notification_push(self, message: dict) -> None:
        await self.send_json({"type": "notification", "notification": message["notification"]})
