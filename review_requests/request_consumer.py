"""Read-only live updates of one review request for its company's page, at /ws/requests/<id>/.

Members of the owning organization and operators may join; everyone else is refused before the
handshake completes (4403, or 4401 when not logged in). The socket forwards the "request.status"
messages that services broadcast on commit; the page then re-reads the request over HTTP."""

from __future__ import annotations

from channels.db import database_sync_to_async

from marketplace.consumers import UserSocketConsumer
from marketplace.realtime import request_group
from review_requests.company_selectors import request_watchable_by


class RequestStatusConsumer(UserSocketConsumer):
    group_name: str | None = None

    async def authorize(self, user) -> bool:
        request_id = self.scope["url_route"]["kwargs"]["request_id"]
        return await database_sync_to_async(request_watchable_by)(user=user, pk=request_id)

    async def after_accept(self, user) -> None:
        self.group_name = request_group(self.scope["url_route"]["kwargs"]["request_id"])
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.send_json(
            {
                "type": "hello",
                "review_request_id": str(self.scope["url_route"]["kwargs"]["request_id"]),
            }
        )

    async def disconnect(self, code: int) -> None:
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        await super().disconnect(code)

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json(
            {"type": "error", "code": "read_only", "message": "This socket only sends."}
        )

    async def request_status(self, message: dict) -> None:
        await self.send_json(message)
