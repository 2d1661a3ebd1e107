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

This subclass uses channels_redis 4.3's internals (`receive_buffer`, `non_local_name`,
`_group_key`, `_map_channel_keys_to_connection`): the version is pinned in pyproject.toml, and
tests/marketplace/test_channel_layer.py is the check to run when it changes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels_redis.core import RedisChannelLayer
from redis.commands.core import AsyncScript

logger = logging.getLogger(__name__)

# channels_redis's group-send script, with the expiry of old messages (a separate pipelined
# round trip there) done in the same call.
GROUP_SEND_LUA = b"""
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
local expired_before = math.floor(tonumber(current_time)) - tonumber(expiry)
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired_before)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""

# The group's members, after dropping those past group_expiry (two commands, one round trip).
GROUP_MEMBERS_LUA = b"""
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


# EVALSHA, with the script's text sent only to a Redis that does not have it yet: one plain
# command costs the client far less than a pipeline of two (redis-py). Bytes, so the digest
# needs no client; each call names its connection.
_GROUP_SEND = AsyncScript(None, GROUP_SEND_LUA)
_GROUP_MEMBERS = AsyncScript(None, GROUP_MEMBERS_LUA)


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

    async def group_send(self, group, message):
        """channels_redis's group_send in two round trips instead of four: one script reads the
        group's members, then one script per Redis shard expires, checks capacity and adds. Same
        keys, scores and capacity rule, so it mixes with the stock layer."""
        assert self.require_valid_group_name(group), "Group name not valid"
        members = await _GROUP_MEMBERS(
            keys=[self._group_key(group)],
            args=[int(time.time()) - self.group_expiry],
            client=self.connection(self.consistent_hash(group)),
        )
        channel_names = [member.decode("utf8") for member in members]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(
            channel_names, message
        )
        for index, channel_keys in by_connection.items():
            args = [messages[k] for k in channel_keys] + [capacities[k] for k in channel_keys]
            over_capacity = await _GROUP_SEND(
                keys=channel_keys,
                args=[*args, time.time(), self.expiry],
                client=self.connection(index),
            )
            if over_capacity > 0:
                # channels_redis logs this at INFO; a dropped broadcast deserves a warning.
                logger.warning(
                    "%s of %s channels over capacity in group %s",
                    over_capacity,
                    len(channel_names),
                    group,
                )

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
                # One round trip: Redis runs a connection's pipelined commands in order, so the
                # ZPOPMIN runs as soon as the BZPOPMIN has a message and takes what queued
                # behind it.
                pipe = self.connection(index).pipeline(transaction=False)
                pipe.bzpopmin(key, timeout=self.reader_idle_timeout)
                pipe.zpopmin(key, self.receive_batch - 1)
                first, rest = await pipe.execute()
                # After a timed-out BZPOPMIN the ZPOPMIN may still catch a late arrival.
                members = ([first[1]] if first else []) + [member for member, _score in rest]
                if not members:
                    if self._local_receivers == 0:
                        return
                    continue
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
