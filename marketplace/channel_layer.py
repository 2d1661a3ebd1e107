"""The Redis channel layer with one reader per process for the process's own channels.

channels_redis's RedisChannelLayer (kept as is for sending, groups, capacity and expiry) moves
messages into a process one at a time: the consumers waiting on their channels pass a lock
around, and the holder makes four Redis round trips for each message (backup-queue cleanup,
BZPOPMIN, backup ZADD, then the backup ZPOPMIN, which the next holder waits for). Every
message a process receives waits for that chain, and each step waits for a turn of an event
loop busy with hundreds of sockets: with 500 workspace sockets and 100 broadcasts/s one daphne
process queued events for seconds while using half its CPU (README, "Workspace benchmark").

Here one task per process pops up to `receive_batch` messages in one round trip and files them
into the consumers' buffers. The backup queue is left out on purpose: it protects a message
popped by a receive that is then cancelled, which happens there every time a consumer leaves;
this reader is not tied to a consumer, and it stops only when nobody in the process has been
receiving for `reader_idle_timeout` seconds. Process-local channels die with their process, so
what could still be lost (a pop cut off by the process exiting) had nobody to go to.
"""

from __future__ import annotations

import asyncio
import logging

from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)


class BatchedRedisChannelLayer(RedisChannelLayer):
    receive_batch = 100
    reader_idle_timeout = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reader: asyncio.Task | None = None
        self._local_receivers = 0

    async def receive(self, channel):
        if "!" not in channel:
            return await super().receive(channel)
        real_channel = self.non_local_name(channel)
        assert real_channel.endswith(self.client_prefix + "!"), "Wrong client prefix"
        self._local_receivers += 1
        try:
            self._ensure_reader(real_channel)
            queue = self.receive_buffer[channel]
            try:
                message = await queue.get()
            except asyncio.CancelledError:
                # The consumer is leaving: what was queued for it leaves with it.
                if self.receive_buffer.get(channel) is queue:
                    del self.receive_buffer[channel]
                raise
            if queue.empty() and self.receive_buffer.get(channel) is queue:
                del self.receive_buffer[channel]
            return message
        finally:
            self._local_receivers -= 1

    def _ensure_reader(self, real_channel: str) -> None:
        loop = asyncio.get_running_loop()
        reader = self._reader
        if reader is not None and not reader.done():
            if reader.get_loop() is loop:
                return
            if not reader.get_loop().is_closed():
                raise RuntimeError(
                    "Two event loops are trying to receive() on one channel layer at once!"
                )
        self._reader = loop.create_task(self._read(real_channel))

    async def _read(self, real_channel: str) -> None:
        index = self.consistent_hash(real_channel)
        key = self.prefix + real_channel
        while True:
            try:
                connection = self.connection(index)
                # Drain what is queued in one round trip; block only when nothing is.
                popped = await connection.zpopmin(key, self.receive_batch)
                if popped:
                    members = [member for member, _score in popped]
                else:
                    blocked = await connection.bzpopmin(key, timeout=self.reader_idle_timeout)
                    if blocked is None:
                        if self._local_receivers == 0:
                            return
                        continue
                    members = [blocked[1]]
            except Exception:
                if self._local_receivers == 0:
                    return  # the layer or its loop is closing
                logger.exception("Receiving from the Redis channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            for member in members:
                self._file(member)

    def _file(self, member: bytes) -> None:
        message = self.deserialize(member)
        channels = message.pop("__asgi_channel__", None)
        if channels is None:
            logger.warning("A message without its channel reached this process's queue")
            return
        for channel in [channels] if isinstance(channels, str) else channels:
            self.receive_buffer[channel].put_nowait(message)
