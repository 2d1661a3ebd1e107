"""A revoked API key stops working at once on every process: two daphnes (web.1, web.2) from the
Procfile; the key is revoked on the company's page served by web.1 and the very next call with
it, on web.2, is a 401. Keys are looked up on every call (marketplace/services.py,
api_key_authenticate): no process keeps a lookup that a revocation elsewhere would have to end.

Runs in both passes (SQLite with the embedded Valkey, and PostgreSQL with Redis)."""

from __future__ import annotations

import pytest

from tests.system.conftest import System, run_system
from tests.system.flows import company_owner, new_api_key, revoke_api_key


@pytest.fixture(scope="module")
def two_webs(tmp_path_factory):
    with run_system(tmp_path_factory.mktemp("key-revoke"), counts={"web": 2}) as instance:
        yield instance


def test_key_revoked_on_web1_is_refused_by_the_next_call_on_web2(two_webs: System):
    web1, web2 = two_webs.urls
    owner_login = company_owner(two_webs)
    owner = two_webs.login(owner_login["email"], owner_login["password"], url=web1)
    key, pk = new_api_key(two_webs, owner)
    with two_webs.api(key=key, url=web2) as pipeline:
        # Used on web.2 first, several times, as a pipeline polls.
        for _ in range(5):
            assert pipeline.get("/api/v1/balance").status_code == 200
        revoke_api_key(two_webs, owner, pk)  # answered by web.1: committed
        refused = pipeline.get("/api/v1/balance")
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "unauthorized", refused.text
        # Still refused on a write, and on web.1 too.
        assert pipeline.post("/api/v1/review-requests", json={}).status_code == 401
    with two_webs.api(key=key, url=web1) as other:
        assert other.get("/api/v1/balance").status_code == 401
    # The other key of the organization (the seeded one) is untouched.
    with two_webs.api(url=web2) as seeded:
        assert seeded.get("/api/v1/balance").status_code == 200
    owner.close()
