"""The Redis cache keeps one connection pool per process and clears only its own keys; the
rate-limit counter counts, expires and works on every cache backend."""

from __future__ import annotations

import os
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches

from marketplace.cache import RedisCache, counter_hit


def _redis_cache() -> RedisCache:
    return RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})


@pytest.mark.redis
def test_cache_objects_share_one_connection_pool():
    # Django builds a cache object per asyncio context (per request under ASGI).
    first, second = _redis_cache(), _redis_cache()
    first.set("greeting", "hello", 30)
    assert second.get("greeting") is None  # another key prefix, same server
    pool = first._cache.get_client(write=True).connection_pool
    assert second._cache.get_client(write=True).connection_pool is pool
    assert second._cache.get_client(write=False).connection_pool is pool


@pytest.mark.redis
def test_cache_per_request_context_reuses_the_pool(settings):
    settings.CACHES = {
        "default": {"BACKEND": "marketplace.cache.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
    }

    async def pool_of_this_context():
        return caches["default"]._cache.get_client(write=True).connection_pool

    # Each async_to_sync call is a new context, so Django hands out a new cache object.
    first = async_to_sync(pool_of_this_context)()
    second = async_to_sync(pool_of_this_context)()
    assert first is second


@pytest.mark.redis
def test_incr_window_counts_and_expires():
    cache = _redis_cache()
    assert [cache.incr_window("hits", 60) for _ in range(3)] == [1, 2, 3]
    client = cache._cache.get_client(write=True)
    ttl = client.ttl(cache.make_key("hits"))
    assert 0 < ttl <= 60  # set by the first hit, not pushed back by later ones


@pytest.mark.redis
def test_incr_window_survives_a_redis_that_forgot_the_script():
    cache = _redis_cache()
    assert cache.incr_window("hits", 60) == 1
    cache._cache.get_client(write=True).script_flush()  # a restarted or failed-over Redis
    assert cache.incr_window("hits", 60) == 2


@pytest.mark.redis
def test_clear_deletes_this_caches_keys_and_nothing_else_in_the_database():
    prefix = f"test-{uuid.uuid4().hex}"
    cache = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": f"{prefix}*"})
    neighbour = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": f"{prefix}-other"})
    client = cache._cache.get_client(write=True)
    channel_key = f"asgi-{uuid.uuid4().hex}:group:workspace"  # what a channel layer keeps there
    client.zadd(channel_key, {"specific.abc!def": 1})
    try:
        cache.set_many({f"k{n}": n for n in range(2500)}, 60)  # more than one SCAN batch
        cache.set_raw("token", "t1")
        neighbour.set("k1", "theirs", 60)  # our prefix as a glob matches its keys

        assert cache.clear() is True

        assert cache.get_many([f"k{n}" for n in range(2500)]) == {}
        assert client.get(cache.make_key("token")) is None
        assert neighbour.get("k1") == "theirs"
        assert client.zrange(channel_key, 0, -1) == [b"specific.abc!def"]
    finally:
        client.delete(channel_key)
        neighbour.clear()


@pytest.mark.redis
def test_cache_objects_share_one_client():
    assert _redis_cache()._cache.get_client(write=True) is _redis_cache()._cache.get_client()


def test_counter_hit_counts_on_a_cache_without_incr_window(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "c"}
    }
    key = f"hits-{uuid.uuid4().hex}"
    assert [counter_hit(key, timeout=60) for _ in range(3)] == [1, 2, 3]
