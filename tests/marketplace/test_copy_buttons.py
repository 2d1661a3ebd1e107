"""Every one-time secret has a copy button beside it (static/js/copy.js, through
templates/_partials/copy_button.html): the new API key, the webhook signing secret, the MFA
recovery codes and the authenticator (TOTP) secret. Each button names the element that holds the
secret, and a live status beside it says "Copied" (tests/e2e/test_copy_e2e.py clicks one)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import login_client
from tests.marketplace.test_allauth_pages import MFA_SETUP, _log_in, _totp_now

pytestmark = pytest.mark.django_db

STATUS = '<span class="copy-status" role="status" aria-live="polite" data-copy-status></span>'


def _copies(html: str, target: str, label: str) -> None:
    button = re.search(
        rf'<button type="button" class="[^"]*" data-copy="#{target}" hidden>{label}</button>'
        + re.escape(STATUS),
        html,
    )
    assert button, f"no copy button for #{target} in the page"
    assert re.search(rf'id="{target}"', html), f"#{target} is not on the page"


def test_the_new_api_key_has_a_copy_button(company_member):
    client = login_client(company_member)
    response = client.post("/company/api-keys/", {"name": "pipeline"}, follow=True)
    html = response.content.decode()
    _copies(html, "new-key", "Copy key")
    # Shown once: the next visit has neither the key nor its button.
    assert 'data-copy="#new-key"' not in client.get("/company/api-keys/").content.decode()


def test_the_webhook_secret_has_a_copy_button(company_member):
    html = login_client(company_member).get("/company/webhooks/").content.decode()
    _copies(html, "webhook-secret", "Copy secret")


def test_the_totp_secret_and_the_recovery_codes_have_copy_buttons(operator):
    client = _log_in(operator)
    page = client.get(MFA_SETUP)
    html = page.content.decode()
    _copies(html, "authenticator_secret", "Copy secret")
    secret = page.context["form"].secret
    assert f'value="{secret}"' in html
    response = client.post(MFA_SETUP, {"code": _totp_now(secret)})
    codes = client.get(response["Location"]).content.decode()
    _copies(codes, "recovery_codes", "Copy codes")


def test_every_page_loads_the_copy_helper(company_member):
    html = login_client(company_member).get("/company/").content.decode()
    assert re.search(r'<script defer src="/static/js/copy\.js[^"]*"></script>', html)
