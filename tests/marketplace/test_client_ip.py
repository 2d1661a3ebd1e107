"""The client address behind a load balancer: one function (marketplace.clientip.client_ip)
decides it, from X-Forwarded-For only when TRUSTED_PROXY_COUNT says how many proxies of ours
append to it, and both allauth's rate limits and the audit log use it."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory

from marketplace.clientip import client_ip
from marketplace.models import AuditLog
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

BALANCER = "10.0.0.2"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """allauth counts failed logins in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()


def _request(xff: str | None = None, remote: str = BALANCER):
    headers = {"HTTP_X_FORWARDED_FOR": xff} if xff is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)


def test_the_header_is_ignored_by_default(settings):
    """Anyone can send X-Forwarded-For: without configured proxies it would let a client choose
    the address its failed logins are counted against."""
    assert settings.TRUSTED_PROXY_COUNT == 0
    assert client_ip(_request("203.0.113.9")) == BALANCER


@pytest.mark.parametrize(
    ("count", "xff", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        # The client may send its own header; our balancer appends what it saw, on the right.
        (1, "198.51.100.66, 203.0.113.9", "203.0.113.9"),
        (2, "198.51.100.66, 203.0.113.9, 10.0.0.7", "203.0.113.9"),
        (1, " 2001:db8::5 ", "2001:db8::5"),
    ],
)
def test_with_trusted_proxies_the_address_is_read_from_the_right(settings, count, xff, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(_request(xff)) == expected


@pytest.mark.parametrize(
    ("count", "xff"),
    [(1, None), (1, ""), (2, "203.0.113.9"), (1, "not-an-address"), (1, "203.0.113.9:4711")],
)
def test_a_missing_short_or_malformed_header_falls_back_to_the_peer(settings, count, xff):
    """Fewer entries than proxies means the request did not come through all of them (or the
    count is wrong): nothing in the header can be trusted, so the peer's address counts."""
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(_request(xff)) == BALANCER


def _login(client: Client, email: str, password: str, xff: str):
    return client.post(
        "/accounts/login/",
        {"login": email, "password": password},
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR=xff,
    )


def _fail_ten_logins(xff_of):
    client = Client()
    for n in range(10):  # ACCOUNT_RATE_LIMITS: login_failed 10/m/ip (each a new email: 5/key)
        response = _login(client, f"nobody{n}@example.test", "wrong-password", xff_of(n))
        assert response.status_code == 200  # the form again, not a login


def test_behind_a_balancer_one_clients_failed_logins_do_not_lock_out_the_others(settings, expert):
    settings.TRUSTED_PROXY_COUNT = 1
    _fail_ten_logins(lambda n: "198.51.100.66")

    refused = _login(Client(), expert.email, PASSWORD, "198.51.100.66")
    assert refused.status_code == 200 and b"Too many failed login attempts" in refused.content

    allowed = _login(Client(), expert.email, PASSWORD, "203.0.113.9")
    assert allowed.status_code == 302


def test_without_trusted_proxies_a_forged_header_does_not_escape_the_rate_limit(settings, expert):
    _fail_ten_logins(lambda n: f"198.51.100.{n}")
    refused = _login(Client(), expert.email, PASSWORD, "203.0.113.99")
    assert refused.status_code == 200 and b"Too many failed login attempts" in refused.content


def test_the_audit_log_records_the_same_client_address(settings, expert):
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client()
    _login(client, "nobody@example.test", "wrong-password", "198.51.100.66, 203.0.113.9")
    _login(client, expert.email, PASSWORD, "198.51.100.66, 203.0.113.9")
    assert AuditLog.objects.get(action="auth.login_failed").ip == "203.0.113.9"
    assert AuditLog.objects.get(action="auth.login", actor=expert).ip == "203.0.113.9"


def test_by_default_the_audit_log_records_the_peer(expert):
    _login(Client(), expert.email, PASSWORD, "203.0.113.9")
    assert AuditLog.objects.get(action="auth.login", actor=expert).ip == BALANCER
