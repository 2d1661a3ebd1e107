"""The response headers of Django's deployment checklist and the Content-Security-Policy, on
every page; and no template carries what that policy forbids (inline scripts, inline event
handlers, inline styles). tests/e2e/test_csp_e2e.py checks the same policy in a browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import login_client
from tests.factories import FundingFactory

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/api/v1/docs"])
def test_anonymous_pages_carry_a_strict_content_security_policy(client, url):
    policy = _policy(client.get(url))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_a_signed_in_page_carries_the_policy_and_the_checklist_headers(company_member):
    response = login_client(company_member).get("/company/")
    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_hsts_is_sent_over_https_without_debug(client, settings):
    assert settings.DEBUG is False
    response = client.get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_stripe_js_is_allowed_on_the_card_payment_page_only(company_member, organization):
    funding = FundingFactory(
        organization=organization, amount_cents=2500, created_by=company_member
    )
    client = login_client(company_member)
    payment = _policy(client.get(f"/company/billing/funding/{funding.pk}/"))
    assert "https://js.stripe.com" in payment["script-src"]
    assert "https://js.stripe.com" in payment["frame-src"]
    assert "https://api.stripe.com" in payment["connect-src"]
    billing = _policy(client.get("/company/billing/"))
    assert billing["script-src"] == ["'self'"]
    assert billing["frame-src"] == ["'none'"]


# What the policy forbids, found in the templates themselves (pages the browser test cannot
# reach in every state, such as an error banner, are covered here).
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.I)


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("inline script", INLINE_SCRIPT), ("event handler", EVENT_HANDLER), ("style", INLINE_STYLE)],
)
def test_no_template_has_what_the_policy_forbids(name, pattern):
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)[:80]}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for match in pattern.finditer(path.read_text())
    ]
    assert found == [], f"{name} in templates"
