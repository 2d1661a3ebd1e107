"""API key lookups kept per process, valid while a token in Redis stays the same.

Every API call checks its key, and the lookup (three tables) cost a database round trip and
about 0.55 million instructions of a single create's 8.4 (bench/api.py, README "API benchmark").
With the Redis cache, a process keeps the rows a lookup found (the key and its organization),
tagged with the token Redis held *before* the lookup. A later call reads the token in the same
round trip as its rate-limit counter (`RedisCache.incr_window_and_get`) and uses the kept rows
only while the token is unchanged; otherwise it looks the key up again.

Anything that can change a lookup's outcome sets a new token once its transaction commits: a key
created, changed, revoked or deleted, an organization changed or deleted, a user changed
(suspended or reinstated through `QuerySet.update`, so the services call `changed()` too) or
deleted. Because the token is read before the lookup, a revocation that commits while a lookup
runs sets a token the lookup's entry does not carry. If Redis loses the token, the next read
sets a fresh one, which no entry carries. Entries also expire after API_KEY_CACHE_SECONDS (a
change made outside the application, in psql, shows by then); with another cache backend (the
database cache of `make run`) nothing is kept and every call looks its key up.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from marketplace import rawsql

TOKEN_KEY = "apikeys:token"
MAX_ENTRIES = 10_000

_entries: dict[str, Entry] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Entry:
    token: str
    key_values: tuple
    organization_values: tuple
    stored_at: float


def enabled() -> bool:
    return settings.API_KEY_CACHE_SECONDS > 0 and hasattr(cache, "incr_window_and_get")


def new_token() -> str:
    return secrets.token_hex(16)


def current_token() -> str | None:
    """The token now, read before a lookup whose rows will be kept; None when not enabled."""
    if not enabled():
        return None
    return cache.get_or_set_raw(TOKEN_KEY, new_token())


def get(digest: str) -> Entry | None:
    entry = _entries.get(digest)
    if entry is None:
        return None
    if time.monotonic() - entry.stored_at > settings.API_KEY_CACHE_SECONDS:
        discard(digest)
        return None
    return entry


def store(digest: str, token: str, api_key) -> None:
    """Keep the rows of `api_key` and of its organization."""
    entry = Entry(
        token=token,
        key_values=_values(api_key),
        organization_values=_values(api_key.organization),
        stored_at=time.monotonic(),
    )
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[digest] = entry


def discard(digest: str) -> None:
    with _lock:
        _entries.pop(digest, None)


def instance(entry: Entry):
    """A fresh ApiKey, with its organization, from the kept rows (each call gets its own: views
    may change them)."""
    from marketplace.models import ApiKey, Organization

    api_key = ApiKey.from_db(None, rawsql.attnames(ApiKey), entry.key_values)
    api_key.organization = Organization.from_db(
        None, rawsql.attnames(Organization), entry.organization_values
    )
    return api_key


def changed() -> None:
    """A lookup's outcome may have changed: every process stops using its entries (a new
    token), now and again once the transaction commits (a process that looked the key up
    between the two, before the change was visible, kept its rows under the first new token)."""
    if not enabled():
        return
    _renew()
    transaction.on_commit(_renew)


def hit_and_token(counter: str, *, timeout: int) -> tuple[int, str]:
    """Count one hit on the rate-limit counter `counter` and read the token, one round trip."""
    return cache.incr_window_and_get(counter, timeout, TOKEN_KEY, new_token())


def _renew() -> None:
    cache.set_raw(TOKEN_KEY, new_token())
    with _lock:
        _entries.clear()


def _values(instance) -> tuple:
    return tuple(getattr(instance, name) for name in rawsql.attnames(type(instance)))
