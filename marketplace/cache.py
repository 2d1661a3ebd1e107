"""The Redis cache with one connection pool per process, and a windowed counter for rate limits.

Django keeps cache objects per asyncio context, so under ASGI every request builds a new
`RedisCache`, and with it a new connection pool and a new TCP connection to Redis (connect,
handshake, and redis-py reading its own package version each time). The clients (and their
pools) here are kept per process and shared by every cache object, so a request borrows an open
connection instead.
"""

from __future__ import annotations

import threading

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.commands.core import Script

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        # One redis-py client (and with it one pool) per server and options, for the process:
        # clients are thread-safe, and building one costs about 0.06 ms.
        index = self._get_connection_pool_index(write)
        client_key = (self._servers[index], repr(sorted(self._pool_options.items(), key=str)))
        client = _clients.get(client_key)
        if client is None:
            with _clients_lock:
                client = _clients.get(client_key)
                if client is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    client = self._client(connection_pool=pool)
                    _clients[client_key] = client
        return client


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache` with per-process pools (see above)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    def incr_window(self, key: str, timeout: int) -> int:
        """Add one to a counter that expires `timeout` seconds after its first hit: one round
        trip (a script: INCR, and EXPIRE on the first hit)."""
        redis_key = self.make_and_validate_key(key)
        client = self._cache.get_client(redis_key, write=True)
        return int(_INCR_WINDOW(keys=[redis_key], args=[timeout], client=client))

    def incr_window_and_get(self, key: str, timeout: int, other: str, default: str):
        """`incr_window(key, timeout)` and, in the same round trip, the string at `other`
        (set to `default` if missing): (count, value)."""
        keys = [self.make_and_validate_key(key), self.make_and_validate_key(other)]
        client = self._cache.get_client(keys[0], write=True)
        count, value = _INCR_WINDOW_AND_GET(keys=keys, args=[timeout, default], client=client)
        return int(count), value.decode()

    def get_or_set_raw(self, key: str, default: str) -> str:
        """A plain string (not pickled, so the scripts can read it), set to `default` if
        missing."""
        redis_key = self.make_and_validate_key(key)
        client = self._cache.get_client(redis_key, write=True)
        return _GET_OR_SET(keys=[redis_key], args=[default], client=client).decode()

    def set_raw(self, key: str, value: str) -> None:
        redis_key = self.make_and_validate_key(key)
        self._cache.get_client(redis_key, write=True).set(redis_key, value)

    def clear(self) -> bool:
        """Delete this cache's keys, and only those. Django's `clear()` is FLUSHDB, which also
        empties whatever else shares the Redis database: the channel layer's groups and
        queues (every open workspace would stop hearing its broadcasts), another cache's
        keys. Keys are found by this cache's prefix (`KEY_PREFIX:`) with SCAN, a batch at a
        time, so Redis keeps serving meanwhile."""
        client = self._cache.get_client(write=True)
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


# Lua in bytes, so a script's digest needs no client; each call names its client.


def _incr_window(key: int, timeout_arg: int) -> bytes:
    """n = the counter at KEYS[key] plus one; it expires ARGV[timeout_arg] s after its first hit."""
    return (
        f"local n = redis.call('INCR', KEYS[{key}]) "
        f"if n == 1 then redis.call('EXPIRE', KEYS[{key}], ARGV[{timeout_arg}]) end "
    ).encode()


def _get_or_set(key: int, default_arg: int) -> bytes:
    """v = the string at KEYS[key], set to ARGV[default_arg] if missing."""
    return (
        f"local v = redis.call('GET', KEYS[{key}]) "
        f"if not v then v = ARGV[{default_arg}] redis.call('SET', KEYS[{key}], v) end "
    ).encode()


_INCR_WINDOW = Script(None, _incr_window(1, 1) + b"return n")
_GET_OR_SET = Script(None, _get_or_set(1, 1) + b"return v")
_INCR_WINDOW_AND_GET = Script(None, _incr_window(1, 1) + _get_or_set(2, 2) + b"return {n, v}")


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
