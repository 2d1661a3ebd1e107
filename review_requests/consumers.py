"""The live workspace socket, /ws/assignments/<id>/ (contract/WORKSPACE.md).

Joins are decided once by a selector before accepting; every frame that changes something goes
through a service (which re-checks rights on fresh rows and stores a WorkspaceEvent); events come
back to every participant, the sender included, through workspace_group(id) after commit. This
consumer only reads the database (snapshot, gap filling) and never writes it; a watcher's join
is announced by the workspace_watched signal, whose receiver (evidence) keeps the log.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from django.db import close_old_connections, connections
from django.http import Http404

from marketplace.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, UserSocketConsumer
from marketplace.realtime import holding_broadcasts, workspace_group
from marketplace.textnorm import TextRefused, text_clean
from review_requests import frames
from review_requests import workspace as services
from review_requests.signals import workspace_watched
from review_requests.workspace_selectors import (
    ROLE_EXPERT,
    ROLE_REVIEWER,
    actor_of,
    assignment_get_for_workspace,
    workspace_events_after,
    workspace_snapshot,
)

logger = logging.getLogger(__name__)

CLOSE_ABUSE = 4008
# ASCII digits only (str.isdigit() also takes "²", which int() refuses), and few enough that the
# number fits the seq column.
AFTER_SEQ = re.compile(r"^[0-9]{1,15}$")
MAX_FRAME_BYTES = 64 * 1024
# Every frame type but chat.message is the assigned expert's (review_requests.frames).
EXPERT_TYPES = frames.FRAME_TYPES - {"chat.message"}
# force.close reasons that end the session itself, whatever the workspace rights.
SESSION_REASONS = {"logged_out", "suspended", "session_ended"}


def _db(func):
    """Run database work off the event loop. On PostgreSQL frames of different workspaces run in
    parallel threads (the assignment row lock keeps one workspace's seqs in order); SQLite takes
    one writer at a time anyway, and its shared in-memory test database refuses concurrent
    ones, so there all calls share Channels' single database thread.

    The connection goes back to the pool inside the call. database_sync_to_async's own cleanup
    runs in the worker thread outside the call's context, where asgiref (3.13) keeps the
    call's connections out of sight: on the parallel path connections were never returned, and
    after the pool's `max_size` calls every socket waited for one (a join timed out)."""

    @functools.wraps(func)
    def call_and_release(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return database_sync_to_async(
        call_and_release, thread_sensitive=connections["default"].vendor != "postgresql"
    )


async def _fetch(user, pk):
    return await _db(assignment_get_for_workspace)(user=user, pk=pk)


class TokenBucket:
    """`rate` frames per second sustained, `burst` at once. Refusals are grouped into strikes:
    one strike per run of refused frames, so a client that overshoots once is not punished
    twice, while a flood collects strikes every time the bucket refills."""

    def __init__(
        self, *, rate: float, burst: int, strike_window: float = 30.0, clock=time.monotonic
    ):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()
        self.strike_window = strike_window
        self.strikes: list[float] = []
        self.refusing = False

    def take(self) -> str:
        """ "ok", "strike" (the first refusal of a run) or "refused"."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refusing = False
            return "ok"
        if self.refusing:
            return "refused"
        self.refusing = True
        self.strikes = [t for t in self.strikes if now - t < self.strike_window] + [now]
        return "strike"


class WorkspaceConsumer(UserSocketConsumer):
    rate_per_second = 20
    burst = 40
    clock = staticmethod(time.monotonic)  # the token bucket's time (tests drive their own)
    strikes_to_close = 3

    assignment_id: str = ""
    group_name: str | None = None
    role: str | None = None
    db = staticmethod(_db)  # the base's rights re-check gives its connection back too

    async def dispatch(self, message) -> None:
        """Channels 4.3 hops to its one sync thread to close stale database connections before
        every message; with hundreds of sockets that is hundreds of hops a second for broadcasts
        that never touch the database (PITFALLS.md). Every database call here goes through
        database_sync_to_async, which does that cleanup itself, so the hop is skipped."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # Joining ------------------------------------------------------------------------------

    async def authorize(self, user) -> bool:
        """At connect, and again on every rights.changed of this user (a removed membership,
        two-factor turned off): the same fetcher decides both times."""
        self.assignment_id = str(self.scope["url_route"]["kwargs"]["assignment_id"])
        try:
            self.assignment, self.role = await _fetch(user, self.assignment_id)
        except Http404:
            return False
        self.user = user
        return True

    async def after_accept(self, user) -> None:
        self.user = user
        self.sent_seq = 0
        self.bucket = TokenBucket(rate=self.rate_per_second, burst=self.burst, clock=self.clock)
        self.cap_reported = False
        self.me = await _db(actor_of)(user=user, role=self.role, assignment=self.assignment)
        self.participants: dict[str, dict[str, Any]] = {self.channel_name: self.me}
        self.group_name = workspace_group(self.assignment_id)
        # Join before reading the snapshot: events committed meanwhile queue up and are
        # delivered after connect returns; those already in the snapshot are dropped by seq.
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        after_seq, refused = self._after_seq()
        await self._send_snapshot(after_seq=after_seq)
        if refused:  # after the snapshot, which comes first on every connect
            await self._error(
                "invalid",
                "after_seq must be a whole number from 0; only the snapshot was sent.",
                field="after_seq",
            )
        await self.channel_layer.group_send(
            self.group_name,
            {"type": "presence.join", "channel": self.channel_name, "participant": self.me},
        )
        if self.role != ROLE_EXPERT:
            # Who watched goes into the oversight record (evidence keeps the log).
            await _db(workspace_watched.send)(
                sender=type(self),
                review_request_id=self.assignment.review_request_id,
                assignment_id=self.assignment.pk,
                user=user,
                role=self.role,
            )

    def _after_seq(self) -> tuple[int | None, bool]:
        """The resume point and whether one was given but refused."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("after_seq")
        if not values:
            return None, False
        if AFTER_SEQ.match(values[0]):
            return int(values[0]), False
        return None, True

    async def _send_snapshot(self, *, after_seq: int | None = None) -> None:
        snapshot = await _db(workspace_snapshot)(
            assignment=self.assignment,
            user=self.user,
            role=self.role,
            participants=self._participant_list(),
        )
        await self.send_json(snapshot)
        if after_seq is not None and after_seq < snapshot["seq"]:
            for frame in await _db(workspace_events_after)(
                assignment_id=self.assignment_id, after_seq=after_seq, upto_seq=snapshot["seq"]
            ):
                await self.send_json(frame)
        self.sent_seq = max(self.sent_seq, snapshot["seq"])

    async def disconnect(self, code: int) -> None:
        if self.group_name:
            await self.channel_layer.group_send(
                self.group_name, {"type": "presence.leave", "channel": self.channel_name}
            )
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        try:
            if self.group_name and self.role == ROLE_EXPERT:
                # This socket's stretch of billed time ends now (timekeeping.work_time). If this
                # write is lost (a crash), the stretch ends at its last heartbeat instead.
                await self._write(
                    services.workspace_socket_close,
                    assignment_id=self.assignment_id,
                    user=self.user,
                    socket=self.channel_name,
                )
        finally:
            await super().disconnect(code)

    # Frames from the client ---------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if self.closing:
            return  # closed by this side (a right gone): frames still in flight change nothing
        verdict = self.bucket.take()
        if verdict != "ok":
            if len(self.bucket.strikes) >= self.strikes_to_close:
                await self.close(code=CLOSE_ABUSE)
            elif verdict == "strike":
                await self._error(
                    "rate_limited",
                    f"Slow down: at most {self.rate_per_second} frames per second.",
                )
            return
        if bytes_data is not None:
            await self._error("bad_frame", "Send JSON text frames.")
            return
        text = text_data or ""
        if len(text) > MAX_FRAME_BYTES or len(text.encode("utf-8")) > MAX_FRAME_BYTES:
            await self._error("frame_too_large", "Frames are limited to 64 KiB.")
            return
        try:
            content = json.loads(text)
        except (ValueError, RecursionError):
            # RecursionError: arrays nested thousands deep fit in 64 KiB.
            await self._error("bad_json", "This frame is not valid JSON.")
            return
        if not isinstance(content, dict):
            await self._error("bad_frame", "A frame is a JSON object with a type.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs) -> None:
        try:
            frame = frames.frame_parse(content)
        except services.WorkspaceError as exc:
            # A known type from someone who may not send it is forbidden, whatever its fields.
            if exc.code == "unknown_type" or not await self._refuse_non_expert(content):
                await self._error(exc.code, exc.message, content, field=exc.field)
            return
        if await self._refuse_non_expert(content):
            return
        handler = getattr(self, "frame_" + frame.type.replace(".", "_"))
        try:
            await handler(frame, content)
        except services.WorkspaceError as exc:
            await self._error(exc.code, exc.message, content, field=exc.field)
            if exc.code == "forbidden":
                await self.close(code=CLOSE_FORBIDDEN)
        except Exception:
            # A bug must not end the socket (1011) without its disconnect: the others would
            # keep this participant in their presence. The frame's transaction rolled back.
            logger.exception("Workspace frame %s failed", frame.type)
            await self._error("server_error", "This frame could not be handled.", content)

    async def _refuse_non_expert(self, content: dict[str, Any]) -> bool:
        if self.role == ROLE_REVIEWER:
            # Co-reviewers and adjudicators watch another reviewer's workspace; they send nothing.
            await self._error("read_only", "You are watching another reviewer's work.", content)
            return True
        if content["type"] in EXPERT_TYPES and self.role != ROLE_EXPERT:
            await self._error("forbidden", "Only the assigned expert can do this.", content)
            return True
        return False

    async def _write(self, service, **kwargs):
        """A workspace service in a worker thread, then what it broadcast on commit, sent from this
        event loop (realtime.holding_broadcasts): the rights check, the write and the broadcast of
        a frame take one thread hand-off. A consumer handles one message at a time, so a client's
        disconnect waits for these sends."""
        outbox: list[tuple[str, dict[str, Any]]] = []
        try:
            return await _db(holding_broadcasts(service, outbox))(**kwargs)
        finally:
            for group, message in outbox:
                await self.channel_layer.group_send(group, message)

    async def _error(
        self,
        code: str,
        message: str,
        content: dict[str, Any] | None = None,
        *,
        field: str | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if field:
            frame["field"] = field
        for key in ("client_id", "ref"):
            value = (content or {}).get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                with contextlib.suppress(TextRefused):  # echoed only if it is text
                    frame[key] = text_clean(str(value)[:64], multiline=False)
        await self.send_json(frame)

    async def frame_heartbeat(self, frame: frames.Heartbeat, content) -> None:
        outcome = await self._write(
            services.workspace_heartbeat,
            assignment_id=self.assignment_id,
            user=self.user,
            socket=self.channel_name,
        )
        for notice in outcome.notices:
            await self.send_json({"type": "notice", **notice})
        capped = not outcome.added and outcome.billed_seconds >= outcome.max_seconds
        if capped and not self.cap_reported:
            self.cap_reported = True
            await self._error(
                "time_cap",
                "The paid time is used up; ask the company in the chat for more hours.",
                content,
            )

    async def frame_annotation_create(self, frame: frames.AnnotationCreate, content) -> None:
        await self._write(
            services.annotation_create,
            assignment_id=self.assignment_id,
            user=self.user,
            client_id=frame.client_id,
            start=frame.start,
            end=frame.end,
            comment=frame.comment,
            severity=frame.severity,
            candidate=frame.candidate,
        )

    async def frame_annotation_update(self, frame: frames.AnnotationUpdate, content) -> None:
        await self._write(
            services.annotation_update,
            assignment_id=self.assignment_id,
            user=self.user,
            annotation_id=frame.id,
            changes=frame.changes(),
        )

    async def frame_annotation_delete(self, frame: frames.AnnotationDelete, content) -> None:
        await self._write(
            services.annotation_delete,
            assignment_id=self.assignment_id,
            user=self.user,
            annotation_id=frame.id,
        )

    async def frame_draft_update(self, frame: frames.DraftUpdate, content) -> None:
        await self._write(
            services.draft_update,
            assignment_id=self.assignment_id,
            user=self.user,
            changes=frame.changes(),
        )

    async def frame_chat_message(self, frame: frames.ChatMessage, content) -> None:
        await self._write(
            services.chat_post, assignment_id=self.assignment_id, user=self.user, body=frame.body
        )

    async def frame_submit(self, frame: frames.Submit, content) -> None:
        await self._write(
            services.assignment_submit,
            assignment=self.assignment_id,
            user=self.user,
        )

    # Messages from the channel layer ------------------------------------------------------

    async def workspace_event(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if seq <= self.sent_seq:
            return  # already in the snapshot or replayed
        if seq > self.sent_seq + 1:
            # Broadcasts of two commits can cross; the rows are committed, so fill from them.
            for frame in await _db(workspace_events_after)(
                assignment_id=self.assignment_id, after_seq=self.sent_seq, upto_seq=seq - 1
            ):
                await self.send_json(frame)
        await self.send(text_data=message["text"])  # the event frame, encoded by the service
        self.sent_seq = seq

    async def workspace_time(self, message: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "time",
                "status": message.get("status"),
                "billed_seconds": message["billed_seconds"],
                "max_seconds": message["max_seconds"],
                "running": message.get("running", True),
                "server_time": message.get("server_time"),
            }
        )

    async def force_close(self, message: dict[str, Any]) -> None:
        """Logout and suspension arrive through the user's group and always close. The
        workspace group sends force.close when the assignment is released or reassigned: only
        those who lost their rights (the expert) are closed; watchers get the new state."""
        code = message.get("code", CLOSE_FORBIDDEN)
        if message.get("reason") in SESSION_REASONS or code == CLOSE_UNAUTHENTICATED:
            await self.close(code=code)
            return
        try:
            self.assignment, self.role = await _fetch(self.user, self.assignment_id)
        except Http404:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self._send_snapshot()

    # Presence: kept by the consumers themselves through the group (works across processes) --

    def _participant_list(self) -> list[dict[str, Any]]:
        people: dict[Any, dict[str, Any]] = {}
        for participant in self.participants.values():
            entry = people.setdefault(participant["id"], {**participant, "connections": 0})
            entry["connections"] += 1
        return sorted(people.values(), key=lambda p: (p["role"] != ROLE_EXPERT, p["name"]))

    async def _send_presence(self) -> None:
        await self.send_json({"type": "presence", "participants": self._participant_list()})

    async def _participant_seen(self, channel: str, participant: dict[str, Any]) -> None:
        """A `presence` frame only when the list changes. One socket may hear of another twice:
        channels_redis's pub/sub layer hands a group message to the process's members of the
        group when it arrives, so a socket that joins while a peer's presence.join is on its way
        gets that join too, and answers it with a presence.here the peer already had."""
        if self.participants.get(channel) != participant:
            self.participants[channel] = participant
            await self._send_presence()

    async def presence_join(self, message: dict[str, Any]) -> None:
        if message["channel"] == self.channel_name:
            return
        # Presence is best effort: a full inbox must not end this socket.
        with contextlib.suppress(ChannelFull):
            await self.channel_layer.send(
                message["channel"],
                {"type": "presence.here", "channel": self.channel_name, "participant": self.me},
            )
        await self._participant_seen(message["channel"], message["participant"])

    async def presence_here(self, message: dict[str, Any]) -> None:
        await self._participant_seen(message["channel"], message["participant"])

    async def presence_leave(self, message: dict[str, Any]) -> None:
        if self.participants.pop(message["channel"], None) is not None:
            await self._send_presence()
