"""Callback URLs cannot be used to reach the platform's own network (server-side request forgery)."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from review_requests.webhooks import (
    callback_address_allowed,
    callback_addresses_check,
    callback_url_target,
    callback_url_validate,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://240.0.0.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://[fc00::1]/hook",
    ],
)
def test_private_loopback_and_reserved_addresses_are_refused_without_debug(settings, url):
    settings.DEBUG = False
    with pytest.raises(ValidationError) as caught:
        callback_url_validate(url)
    assert caught.value.code == "private_address"


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "javascript:alert(1)",
        "https:///nohost",
        "https://user:pw@93.184.216.34/hook",
        "https://93.184.216.34:99999/hook",
        "not a url",
    ],
)
def test_non_https_and_malformed_urls_are_refused(settings, url):
    settings.DEBUG = False
    with pytest.raises(ValidationError):
        callback_url_validate(url)


def test_plain_http_to_localhost_is_refused_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(ValidationError) as caught:
        callback_url_validate("http://localhost:8000/hook")
    assert caught.value.code == "insecure_scheme"


def test_plain_http_to_localhost_is_allowed_with_debug(settings):
    settings.DEBUG = True
    callback_url_validate("http://localhost:8000/hook")
    callback_url_validate("http://127.0.0.1:9/hook")


def test_plain_http_elsewhere_is_refused_even_with_debug(settings):
    settings.DEBUG = True
    with pytest.raises(ValidationError):
        callback_url_validate("http://93.184.216.34/hook")


def test_public_https_address_is_accepted_and_parsed(settings):
    settings.DEBUG = False
    target = callback_url_target("https://93.184.216.34:8443/hooks/inloop?x=1")
    assert (target.scheme, target.port, target.path, target.address) == (
        "https",
        8443,
        "/hooks/inloop?x=1",
        "93.184.216.34",
    )


def test_a_name_with_any_private_address_among_its_answers_is_refused(settings, monkeypatch):
    """Round-robin DNS must not smuggle an internal address in beside a public one."""
    settings.DEBUG = False

    def fake_getaddrinfo(host, port, *args, **kwargs):
        assert host == "hooks.customer.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ValidationError):
        callback_url_validate("https://hooks.customer.test/hook")


def test_an_unresolvable_host_is_refused_with_a_clear_message(settings, monkeypatch):
    settings.DEBUG = False

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(ValidationError, match="does not resolve"):
        callback_url_validate("https://nowhere.invalid/hook")


# IPv6 forms that carry an IPv4 address --------------------------------------------------------
# Checked by validation only: each address is handed to the check (as a resolver's answer or as
# a literal in the URL, which getaddrinfo parses without any lookup); nothing connects to them.

EMBEDDED_INTERNAL = [
    pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
    pytest.param("::ffff:10.0.0.1", id="mapped-private"),
    pytest.param("::127.0.0.1", id="compatible-loopback"),
    pytest.param("::10.1.2.3", id="compatible-private"),
    pytest.param("::169.254.169.254", id="compatible-link-local"),
    pytest.param("::ffff:0:192.168.0.1", id="translated-private"),
    pytest.param("64:ff9b::127.0.0.1", id="nat64-loopback"),
    pytest.param("64:ff9b::10.0.0.1", id="nat64-private"),
    pytest.param("64:ff9b::169.254.169.254", id="nat64-link-local"),
    pytest.param("64:ff9b:1::a00:1", id="nat64-local-use-prefix"),
    pytest.param("2002:7f00:1::1", id="6to4-loopback"),
    pytest.param("2002:c0a8:101::1", id="6to4-private"),
    pytest.param("2002:a9fe:a9fe::1", id="6to4-link-local"),
    # Teredo: the client is the bit-inverted last 32 bits (here 127.0.0.1 and 10.0.0.1).
    pytest.param("2001:0:808:808::80ff:fffe", id="teredo-client-loopback"),
    pytest.param("2001:0:808:808::f5ff:fffe", id="teredo-client-private"),
]


@pytest.mark.parametrize("address", EMBEDDED_INTERNAL)
def test_ipv6_forms_embedding_an_internal_ipv4_address_are_refused(address):
    assert callback_address_allowed(address) is False


@pytest.mark.parametrize("address", EMBEDDED_INTERNAL)
def test_a_name_resolving_to_an_ipv6_form_of_an_internal_address_is_refused(settings, address):
    settings.DEBUG = False
    with pytest.raises(ValidationError) as caught:
        callback_addresses_check(host="hooks.customer.test", addresses=[address])
    assert caught.value.code == "private_address"


@pytest.mark.parametrize(
    "url",
    [
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::a00:1]/hook",
        "https://[2002:a9fe:a9fe::1]/latest/meta-data/",
    ],
)
def test_a_literal_ipv6_url_embedding_an_internal_address_is_refused(settings, url):
    settings.DEBUG = False
    with pytest.raises(ValidationError) as caught:
        callback_url_validate(url)
    assert caught.value.code == "private_address"


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("::ffff:93.184.216.34", id="mapped-public"),
        pytest.param("64:ff9b::93.184.216.34", id="nat64-public"),
        pytest.param("2002:5db8:d822::1", id="6to4-public"),
        pytest.param("2606:2800:220:1:248:1893:25c8:1946", id="plain-global-ipv6"),
    ],
)
def test_ipv6_forms_of_public_addresses_stay_allowed(address):
    """An IPv6-only receiver behind NAT64 or 6to4 is a real customer set-up."""
    assert callback_address_allowed(address) is True


def test_teredo_is_refused_even_with_a_public_client():
    """Teredo (2001::/32) is not globally reachable in IANA's registry; nobody hosts webhooks
    there, so it is refused whatever client it names (here 8.8.8.8 via server 8.8.8.8)."""
    assert callback_address_allowed("2001:0:808:808::f7f7:f7f7") is False
