"""The Redis cache keeps one connection pool per process and clears only its own keys; the
rate-limit counter counts, expires and works on every cache backend."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from django.core.cache import caches

from marketplace.cache import RedisCache, SharedConnectionPool, counter_hit

SHARED_POOL = {"pool_class": "marketplace.cache.SharedConnectionPool"}


def _redis_cache(prefix: str | None = None) -> RedisCache:
    return RedisCache(
        os.environ["REDIS_URL"],
        {"KEY_PREFIX": prefix or f"test-{uuid.uuid4().hex}", "OPTIONS": SHARED_POOL},
    )


def test_shared_pool_is_one_pool_per_url_and_options():
    url = "redis://127.0.0.1:1/0"  # pools connect lazily: nothing listens there
    assert SharedConnectionPool.from_url(url) is SharedConnectionPool.from_url(url)
    assert SharedConnectionPool.from_url(url, db=2) is not SharedConnectionPool.from_url(url)


def _connections_named(name: str) -> int:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return sum(1 for c in client.client_list() if c.get("name") == name)
    finally:
        client.close()


@pytest.mark.redis
def test_cache_objects_of_each_request_context_share_one_connection(settings):
    # Django builds a cache object per asyncio context (per request under ASGI); with the
    # shared pool they borrow one open connection instead of opening one each.
    name = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "marketplace.cache.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": name,
            "OPTIONS": {**SHARED_POOL, "client_name": name},
        }
    }

    async def read_in_this_context():
        return caches["default"].get("greeting")

    # Each async_to_sync call is a new context, so Django hands out a new cache object.
    for _ in range(5):
        assert async_to_sync(read_in_this_context)() is None
    assert _connections_named(name) == 1


@pytest.mark.redis
def test_incr_window_counts_and_expires():
    cache = _redis_cache()
    assert [cache.incr_window("hits", 60) for _ in range(3)] == [1, 2, 3]
    client = cache.redis_client()
    ttl = client.ttl(cache.make_key("hits"))
    assert 0 < ttl <= 60  # set by the first hit, not pushed back by later ones


@pytest.mark.redis
def test_incr_window_survives_a_redis_that_forgot_the_script():
    cache = _redis_cache()
    assert cache.incr_window("hits", 60) == 1
    cache.redis_client().script_flush()  # a restarted or failed-over Redis
    assert cache.incr_window("hits", 60) == 2


@pytest.mark.redis
def test_clear_deletes_this_caches_keys_and_nothing_else_in_the_database():
    prefix = f"test-{uuid.uuid4().hex}"
    cache = _redis_cache(f"{prefix}*")
    neighbour = _redis_cache(f"{prefix}-other")
    client = cache.redis_client()
    channel_key = f"asgi-{uuid.uuid4().hex}:group:workspace"  # what a channel layer keeps there
    client.zadd(channel_key, {"specific.abc!def": 1})
    try:
        cache.set_many({f"k{n}": n for n in range(2500)}, 60)  # more than one SCAN batch
        client.set(cache.make_key("token"), "t1")  # a key not written by the cache
        neighbour.set("k1", "theirs", 60)  # our prefix as a glob matches its keys

        assert cache.clear() is True

        assert cache.get_many([f"k{n}" for n in range(2500)]) == {}
        assert client.get(cache.make_key("token")) is None
        assert neighbour.get("k1") == "theirs"
        assert client.zrange(channel_key, 0, -1) == [b"specific.abc!def"]
    finally:
        client.delete(channel_key)
        neighbour.clear()


def test_counter_hit_counts_on_a_cache_without_incr_window(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "c"}
    }
    key = f"hits-{uuid.uuid4().hex}"
    assert [counter_hit(key, timeout=60) for _ in range(3)] == [1, 2, 3]
