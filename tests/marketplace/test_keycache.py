"""Kept API key lookups (marketplace/keycache.py): a later call skips the database, and every
change that can affect a lookup shows on the very next call, in this process and in others."""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketplace import keycache, services
from marketplace.models import ApiKey, Organization
from tests.conftest import login_client

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def _balance(raw_key: str):
    return Client().get("/api/v1/balance", HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _key_lookups(queries) -> int:
    table = ApiKey._meta.db_table
    return sum(1 for q in queries if f'FROM "{table}"' in q["sql"] and "SELECT" in q["sql"])


def _lookups_of_a_call(raw_key: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = _balance(raw_key).status_code
    return status, _key_lookups(queries)


def _rate_count(raw_key: str) -> int:
    key = ApiKey.objects.get(key_hash=services.api_key_digest(raw_key))
    return cache.incr_window(f"ratelimit:key:{key.pk}:{int(time.time() // 60)}", 120) - 1


def test_a_second_call_uses_the_kept_lookup(api_key):
    assert _lookups_of_a_call(api_key) == (200, 1)
    assert _lookups_of_a_call(api_key) == (200, 0)


def test_a_revoked_key_answers_401_on_the_next_call(company_member, api_key):
    assert _lookups_of_a_call(api_key) == (200, 1)
    services.api_key_revoke(api_key=ApiKey.objects.get(), actor=company_member)
    assert _lookups_of_a_call(api_key) == (401, 1)


def test_suspending_the_creator_stops_the_key_and_reinstating_restores_it(
    company_member, api_key, operator
):
    assert _balance(api_key).status_code == 200
    services.user_suspend(user=company_member, actor=operator, reason="fraud review")
    assert _balance(api_key).status_code == 401
    services.user_reinstate(user=company_member, actor=operator)
    assert _balance(api_key).status_code == 200


def test_a_key_revoked_in_the_admin_or_the_shell_stops_at_once(api_key):
    assert _balance(api_key).status_code == 200
    key = ApiKey.objects.get()
    key.revoked_at = key.created_at
    key.save()  # a plain save: the post_save receiver renews the token
    assert _balance(api_key).status_code == 401


def test_a_deleted_organization_takes_its_kept_keys_with_it(api_key, organization):
    assert _balance(api_key).status_code == 200
    Organization.objects.filter(pk=organization.pk).delete()
    assert _balance(api_key).status_code == 401


def test_a_changed_organization_is_read_again(api_key, organization):
    assert _lookups_of_a_call(api_key) == (200, 1)
    organization.name = "Renamed AI"
    organization.save()
    assert _lookups_of_a_call(api_key) == (200, 1)
    entry = keycache.get(services.api_key_digest(api_key))
    assert keycache.instance(entry).organization.name == "Renamed AI"


def test_logins_do_not_drop_kept_lookups(company_member, api_key):
    assert _lookups_of_a_call(api_key) == (200, 1)
    login_client(company_member)  # saves last_login
    Client().login(email=company_member.email, password="x")  # a failed login too
    assert _lookups_of_a_call(api_key) == (200, 0)


def test_another_process_sees_the_change_through_the_token(api_key):
    """Another process keeps its own entries: only the token in Redis tells it. Simulated by
    putting an entry back under the old token after a change."""
    assert _balance(api_key).status_code == 200
    digest = services.api_key_digest(api_key)
    stale = keycache.get(digest)
    ApiKey.objects.update(revoked_at=ApiKey.objects.get().created_at)
    keycache.changed()  # what the services do after such an update
    keycache.store(digest, stale.token, keycache.instance(stale))  # the other process
    assert _balance(api_key).status_code == 401
    assert keycache.get(digest) is None


def test_a_lookup_keeps_the_token_read_before_it(api_key, monkeypatch):
    """A revocation that commits while a lookup runs: the lookup found the key active, but the
    token it keeps is the one from before the revocation, so its entry is never used."""
    from marketplace import rawsql

    fetch = rawsql.fetch_instances

    def fetch_then_revoke(*args):
        found = fetch(*args)
        ApiKey.objects.update(revoked_at=ApiKey.objects.get().created_at)
        keycache.changed()
        return found

    monkeypatch.setattr(rawsql, "fetch_instances", fetch_then_revoke)
    assert _balance(api_key).status_code == 200  # looked up before the revocation
    monkeypatch.setattr(rawsql, "fetch_instances", fetch)
    assert _lookups_of_a_call(api_key) == (401, 1)


def test_a_redis_that_lost_the_token_drops_every_entry(api_key):
    assert _lookups_of_a_call(api_key) == (200, 1)
    cache._cache.get_client(write=True).delete(cache.make_and_validate_key(keycache.TOKEN_KEY))
    assert _lookups_of_a_call(api_key) == (200, 1)
    assert _lookups_of_a_call(api_key) == (200, 0)


def test_a_call_on_a_stale_entry_counts_once_against_the_rate_limit(api_key):
    assert _balance(api_key).status_code == 200
    kept = _entry(api_key)
    keycache.changed()
    keycache.store(  # an entry under a token that is no longer current
        services.api_key_digest(api_key), kept.token, keycache.instance(kept)
    )
    assert _balance(api_key).status_code == 200
    assert _rate_count(api_key) == 2


def test_entries_expire_and_zero_seconds_keeps_nothing(api_key, settings):
    assert _lookups_of_a_call(api_key) == (200, 1)
    digest = services.api_key_digest(api_key)
    keycache._entries[digest] = dataclasses.replace(
        _entry(api_key), stored_at=time.monotonic() - settings.API_KEY_CACHE_SECONDS - 1
    )
    assert _lookups_of_a_call(api_key) == (200, 1)
    settings.API_KEY_CACHE_SECONDS = 0
    assert _lookups_of_a_call(api_key) == (200, 1)
    assert _lookups_of_a_call(api_key) == (200, 1)


def test_views_get_their_own_instances(api_key):
    assert _balance(api_key).status_code == 200
    entry = _entry(api_key)
    first, second = keycache.instance(entry), keycache.instance(entry)
    first.organization.name = "changed by a view"
    assert second.organization.name != "changed by a view"
    assert keycache.instance(entry).organization.name != "changed by a view"


def _entry(raw_key: str):
    entry = keycache.get(services.api_key_digest(raw_key))
    assert entry is not None
    return entry
