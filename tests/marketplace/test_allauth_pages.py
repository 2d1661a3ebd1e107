"""allauth's pages in the product's look with only what applies; a fresh login is recent enough
to set up two-factor authentication; after set-up an operator has a way to the console."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django.test import Client

from marketplace.adapters import LOGGED_IN_AT_SESSION_KEY
from tests.conftest import give_operator_mfa, login_client
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

MFA_SETUP = "/accounts/2fa/totp/activate/"
REAUTHENTICATE = "/accounts/reauthenticate/"
PRODUCT_LOOK = ('<header class="site-header">', '<nav class="container" aria-label="Main">')


def _totp_now(secret: str) -> str:
    """RFC 6238 as an authenticator app computes it (SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _log_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def _assert_product_look(response, path: str) -> str:
    assert response.status_code == 200, (path, response.status_code)
    html = response.content.decode()
    for marker in PRODUCT_LOOK:
        assert marker in html, f"{path} is not in the product's look"
    return html


def test_an_operator_reaches_totp_setup_right_after_logging_in_without_confirming_access(
    operator,
):
    client = _log_in(operator)
    console = client.get("/console/")
    assert console["Location"] == MFA_SETUP
    response = client.get(MFA_SETUP)
    assert response.status_code == 200, response.get("Location")
    html = _assert_product_look(response, MFA_SETUP)
    assert 'name="code"' in html
    assert "Confirm access" not in html
    # The login's and the console's messages: a real list inside the status region.
    assert re.search(r'<div role="status">[^<]*<ul class="messages">\s*<li class="success">', html)
    assert "Operators must turn on two-factor authentication first." in html


def test_totp_setup_leads_an_operator_on_to_the_console(operator):
    client = _log_in(operator)
    page = client.get(MFA_SETUP)
    secret = page.context["form"].secret
    response = client.post(MFA_SETUP, {"code": _totp_now(secret)})
    assert response.status_code == 302
    codes_page = client.get(response["Location"])
    html = _assert_product_look(codes_page, response["Location"])
    assert '<a href="/console/" class="button">Continue to the console</a>' in html
    assert client.get("/console/").status_code == 200
    # The two-factor page says the same once the app is active.
    assert "Continue to the console" in client.get("/accounts/2fa/").content.decode()


def test_a_non_operator_is_led_to_their_dashboard_after_setup(expert):
    give_operator_mfa(expert)
    html = _log_in_through_mfa(expert).get("/accounts/2fa/").content.decode()
    assert "Continue to your dashboard" in html
    assert "Continue to the console" not in html


def test_the_two_factor_page_offers_no_way_on_before_setup(operator):
    html = _log_in(operator).get("/accounts/2fa/").content.decode()
    assert "Continue to" not in html


def test_an_old_login_still_has_to_confirm_access(operator):
    client = _log_in(operator)
    session = client.session
    session[LOGGED_IN_AT_SESSION_KEY] = time.time() - 301
    session.save()
    response = client.get(MFA_SETUP)
    assert response.status_code == 302
    assert response["Location"].startswith(REAUTHENTICATE)


def test_a_session_without_a_login_record_has_to_confirm_access(operator):
    response = login_client(operator).get(MFA_SETUP)
    assert response.status_code == 302
    assert response["Location"].startswith(REAUTHENTICATE)


def _log_in_through_mfa(user) -> Client:
    """Password, then the second step (in the product's look), then the code from the app."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    client = _log_in(user)
    page = client.get("/accounts/2fa/authenticate/")
    _assert_product_look(page, "/accounts/2fa/authenticate/")
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    code = _totp_now(decrypt(totp.data["secret"]))
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302, response.content[:500]
    return client


ANONYMOUS_PAGES = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/password/reset/key/1-bad-key/",
    "/accounts/confirm-email/",
    "/accounts/confirm-email/bad-key/",
]

SIGNED_IN_PAGES = [
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/2fa/",
    MFA_SETUP,
    "/accounts/reauthenticate/",
    "/accounts/logout/",
    "/accounts/3rdparty/",
]


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_every_anonymous_allauth_page_is_in_the_product_look(path):
    response = Client().get(path, follow=True)
    html = _assert_product_look(response, path)
    assert "third-party" not in html.lower()


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_every_signed_in_allauth_page_is_in_the_product_look(expert, path):
    response = _log_in(expert).get(path)
    html = _assert_product_look(response, path)
    # No provider is configured: nothing links to "Connected accounts".
    assert 'href="/accounts/3rdparty/"' not in html
    assert ">Connected accounts</a>" not in html


def test_connected_accounts_with_no_provider_says_there_is_nothing_to_connect(expert):
    html = _assert_product_look(_log_in(expert).get("/accounts/3rdparty/"), "/accounts/3rdparty/")
    assert "Inloop has no third-party sign-in" in html
    assert "Add a Third-Party Account" not in html


def test_recovery_codes_and_mfa_login_pages_are_in_the_product_look(operator):
    give_operator_mfa(operator)
    client = _log_in_through_mfa(operator)
    for path in ("/accounts/2fa/", "/accounts/2fa/recovery-codes/generate/"):
        _assert_product_look(client.get(path), path)
