"""The batched Redis channel layer delivers what channels_redis's layer delivers: every message
to its process-local channel, in order, group sends to each member, and nothing lost for the
others when one consumer leaves. Needs Redis (REDIS_URL); each test uses its own prefix."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from marketplace.channel_layer import BatchedRedisChannelLayer

pytestmark = pytest.mark.redis


@pytest.fixture
async def layer():
    layer = BatchedRedisChannelLayer(
        hosts=[os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
        prefix=f"test-{uuid.uuid4().hex[:8]}",
        capacity=1000,
    )
    yield layer
    await layer.flush()


async def test_each_channel_gets_its_messages_in_order(layer):
    channels = [await layer.new_channel() for _ in range(20)]
    for n in range(30):
        for channel in channels:
            await layer.send(channel, {"type": "test.message", "n": n})

    async def read_all(channel):
        return [(await layer.receive(channel))["n"] for _ in range(30)]

    received = await asyncio.gather(*(read_all(c) for c in channels))
    assert received == [list(range(30))] * 20


async def test_a_group_send_reaches_every_member_once(layer):
    members = [await layer.new_channel() for _ in range(5)]
    outsider = await layer.new_channel()
    for channel in members:
        await layer.group_add("workspace.1", channel)
    await layer.group_send("workspace.1", {"type": "test.event", "seq": 1})
    await layer.group_send("workspace.1", {"type": "test.event", "seq": 2})
    await layer.send(outsider, {"type": "test.private"})

    for channel in members:
        first = await layer.receive(channel)
        second = await layer.receive(channel)
        assert [first["seq"], second["seq"]] == [1, 2]
        assert "__asgi_channel__" not in first
    assert (await layer.receive(outsider))["type"] == "test.private"


async def test_a_group_send_works_on_a_redis_that_forgot_its_scripts(layer):
    member = await layer.new_channel()
    await layer.group_add("workspace.2", member)
    await layer.group_send("workspace.2", {"type": "test.event", "seq": 1})
    await layer.connection(0).script_flush()  # a restarted or failed-over Redis
    await layer.group_send("workspace.2", {"type": "test.event", "seq": 2})
    assert [(await layer.receive(member))["seq"] for _ in range(2)] == [1, 2]


async def test_a_consumer_leaving_loses_nothing_for_the_others(layer):
    leaving, staying = await layer.new_channel(), await layer.new_channel()
    waiting = asyncio.ensure_future(layer.receive(leaving))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    for n in range(3):
        await layer.send(staying, {"type": "test.message", "n": n})
    assert [(await layer.receive(staying))["n"] for _ in range(3)] == [0, 1, 2]


async def test_messages_sent_before_anyone_receives_are_kept(layer):
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "test.early"})
    assert (await layer.receive(channel))["type"] == "test.early"


async def test_a_group_send_to_a_full_channel_keeps_its_capacity(layer):
    layer.capacity = 3
    channel = await layer.new_channel()
    await layer.group_add("workspace.2", channel)
    for seq in range(1, 6):
        await layer.group_send("workspace.2", {"type": "test.event", "seq": seq})
    queued = await layer.connection(0).zcard(layer.prefix + layer.non_local_name(channel))
    assert queued == 3
    assert [(await layer.receive(channel))["seq"] for _ in range(3)] == [1, 2, 3]
