"""The Redis cache with one connection pool per process, and a windowed counter for rate limits.

Django keeps cache objects per asyncio context, so under ASGI every request builds a new
`RedisCache`, and with it a new connection pool and a new TCP connection to Redis (connect,
handshake, and redis-py reading its own package version each time). `SharedConnectionPool`,
given as the cache's documented `pool_class` option (settings.py), hands every cache object of
the process the same pool for the same server and options, so a request borrows an open
connection instead.
"""

from __future__ import annotations

import threading

import redis
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis.commands.core import Script

_pools: dict[tuple, redis.ConnectionPool] = {}
_pools_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    """`from_url` gives one pool per URL and options for the process (pools are thread-safe)."""

    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        pool_key = (url, repr(sorted(kwargs.items(), key=str)))
        pool = _pools.get(pool_key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(pool_key)
                if pool is None:
                    pool = _pools[pool_key] = super().from_url(url, **kwargs)
        return pool


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache` with a one-round-trip windowed counter and a
    `clear()` that deletes only this cache's keys."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self.server_url = server.split(",")[0] if isinstance(server, str) else server[0]

    def redis_client(self) -> redis.Redis:
        """A redis-py client on the process's pool for the (first, writable) server, kept for the
        process (clients are thread-safe): building one per call cost a quarter of a rate-limit
        check (redis-py fills its table of response callbacks in each new client)."""
        client = _clients.get(self.server_url)
        if client is None:
            with _clients_lock:
                client = _clients.get(self.server_url)
                if client is None:
                    pool = SharedConnectionPool.from_url(self.server_url)
                    client = _clients[self.server_url] = redis.Redis(connection_pool=pool)
        return client

    def incr_window(self, key: str, timeout: int) -> int:
        """Add one to a counter that expires `timeout` seconds after its first hit: one round
        trip (a script: INCR, and EXPIRE on the first hit)."""
        redis_key = self.make_and_validate_key(key)
        return int(_INCR_WINDOW(keys=[redis_key], args=[timeout], client=self.redis_client()))

    def clear(self) -> bool:
        """Delete this cache's keys, and only those. Django's `clear()` is FLUSHDB, which also
        empties whatever else shares the Redis database: the channel layer's groups and
        queues (every open workspace would stop hearing its broadcasts), another cache's
        keys. Keys are found by this cache's prefix (`KEY_PREFIX:`) with SCAN, a batch at a
        time, so Redis keeps serving meanwhile."""
        client = self.redis_client()
        pattern = _glob_escape(self.key_prefix) + ":*"
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        return True


def _glob_escape(text: str) -> str:
    """`text` matched literally in a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\^-" else c for c in text)


# Lua in bytes, so the script's digest needs no client; each call names its client.
_INCR_WINDOW = Script(
    None,
    b"local n = redis.call('INCR', KEYS[1]) "
    b"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    b"return n",
)


def counter_hit(key: str, *, timeout: int) -> int:
    """Count one hit on `key` (created with `timeout` seconds to live) and return the count."""
    incr_window = getattr(cache, "incr_window", None)
    if incr_window is not None:
        return incr_window(key, timeout)
    # Other backends (the database cache of a single machine, locmem in tests): add, then incr;
    # the add may race with the counter's expiry, so a missing key restarts it at one.
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=timeout)
        return 1
