"""seed_demo as the contract describes it ("Demo data" in contract/API.md): one JSON object, a
believable marketplace where every account logs in, a funded company, and someone on call for
every specialization at any hour; running it again duplicates nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import struct
import time
from datetime import UTC, datetime, timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from billing.selectors import company_balance
from experts.matching import candidates_rank
from experts.models import Credential, ExpertProfile, Specialization
from inloop_site.management.commands.seed_demo import OPERATOR
from marketplace.models import ApiKey, Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _development(settings):
    """Demo data is for development (DEBUG); the production tests below turn it off."""
    settings.DEBUG = True


def _seed(*args: str) -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--json", *args, stdout=out)
    return json.loads(out.getvalue())  # nothing else on stdout


def test_json_names_everything_it_made_and_every_account_logs_in():
    made = _seed()
    assert authenticate(email=made["operator"]["email"], password=made["operator"]["password"])
    company = made["company"]
    assert company["api_key"].startswith("inl_") and company["webhook_secret"]
    assert len(company["members"]) == 2
    for member in company["members"]:
        assert authenticate(email=member["email"], password=member["password"])
    assert len(made["experts"]) >= 30
    for expert in made["experts"][:5]:
        user = authenticate(email=expert["email"], password=expert["password"])
        assert user is not None and user.account_type == User.AccountType.EXPERT
    rates = [e["rate_cents"] for e in made["experts"]]
    assert min(rates) >= 4_000 and max(rates) <= 30_000 and len(set(rates)) > 10
    assert len({e["display_name"] for e in made["experts"]}) == len(made["experts"])
    for user in User.objects.all():
        assert user.emailaddress_set.filter(verified=True, primary=True).exists(), user.email


def test_the_company_is_funded_with_operator_credit():
    made = _seed()
    organization = Organization.objects.get(pk=made["company"]["id"])
    assert company_balance(organization=organization).available_cents >= 1_000_000


def test_every_field_has_an_always_available_expert_with_valid_credentials():
    made = _seed()
    fields = Specialization.objects.filter(parent__isnull=True)
    assert fields.count() >= 8
    assert Specialization.objects.filter(parent__isnull=False).count() >= 40
    for field in fields:
        on_call = [
            e
            for e in made["experts"]
            if e["always_available"]
            and all(s.startswith(f"{field.slug}.") for s in e["specializations"])
        ]
        assert on_call, field.slug
        if field.requires_credentials:
            profile = ExpertProfile.objects.get(pk=on_call[0]["id"])
            assert Credential.objects.filter(
                expert=profile, field=field, status=Credential.Status.VERIFIED
            ).exists()


@pytest.mark.parametrize("hour", [3, 11, 19])
def test_a_request_for_any_specialization_finds_someone_at_any_hour(hour):
    made = _seed()
    now = datetime(2026, 12, 6, hour, 17, tzinfo=UTC)  # a Sunday
    for spec in Specialization.objects.filter(parent__isnull=False):
        found = candidates_rank(
            specialization_slug=spec.slug,
            max_rate_cents=None,
            organization_id=made["company"]["id"],
            exclude_expert_ids=(),
            now=now,
            deadline=now + timedelta(days=1),
            limit=3,
        )
        assert found, f"nobody for {spec.slug} at {hour}:17 UTC"


def test_running_it_again_duplicates_nothing_and_gives_a_fresh_key():
    first = _seed()
    counts = (User.objects.count(), ExpertProfile.objects.count(), Organization.objects.count())
    balance = company_balance(organization=Organization.objects.get(pk=first["company"]["id"]))
    second = _seed()
    assert counts == (
        User.objects.count(),
        ExpertProfile.objects.count(),
        Organization.objects.count(),
    )
    assert second["company"]["api_key"] != first["company"]["api_key"]
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() >= 1
    again = company_balance(organization=Organization.objects.get(pk=second["company"]["id"]))
    assert again.available_cents == balance.available_cents


# Production (DEBUG off) ------------------------------------------------------------------------


def _totp_now(secret: str) -> str:
    """RFC 6238 as an authenticator app computes it (SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _login_with_totp(email: str, password: str, secret: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": password})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    response = client.post("/accounts/2fa/authenticate/", {"code": _totp_now(secret)})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    return client


def test_without_debug_it_refuses_and_changes_nothing(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--i-know-this-is-production"):
        call_command("seed_demo", "--json", stdout=io.StringIO())
    assert not User.objects.exists()
    assert not Organization.objects.exists()


def test_in_production_the_operator_is_made_with_two_factor_and_a_fresh_password(settings):
    settings.DEBUG = False
    made = _seed("--i-know-this-is-production")
    operator = made["operator"]
    assert operator["email"] == OPERATOR[0]
    assert operator["password"] != OPERATOR[1] and len(operator["password"]) >= 20
    user = User.objects.get(email=operator["email"])
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).count() == 1
    # The published demo password opens nothing; the printed password and secret do.
    assert authenticate(email=OPERATOR[0], password=OPERATOR[1]) is None
    client = _login_with_totp(operator["email"], operator["password"], operator["totp_secret"])
    assert client.get("/console/").status_code == 200


def test_in_production_an_operator_seeded_for_development_gets_two_factor(settings):
    """A development database taken to production: its operator still has the published
    password and no second factor, which anyone could then set up for themselves."""
    _seed()
    settings.DEBUG = False
    made = _seed("--i-know-this-is-production")
    user = User.objects.get(email=OPERATOR[0])
    assert User.objects.filter(account_type=User.AccountType.OPERATOR).count() == 1
    assert authenticate(email=OPERATOR[0], password=OPERATOR[1]) is None
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).count() == 1
    _login_with_totp(OPERATOR[0], made["operator"]["password"], made["operator"]["totp_secret"])


def test_in_production_a_second_run_replaces_the_operators_secret(settings):
    settings.DEBUG = False
    first = _seed("--i-know-this-is-production")
    second = _seed("--i-know-this-is-production")
    assert second["operator"]["totp_secret"] != first["operator"]["totp_secret"]
    user = User.objects.get(email=OPERATOR[0])
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).count() == 1
    _login_with_totp(OPERATOR[0], second["operator"]["password"], second["operator"]["totp_secret"])


def test_in_production_the_text_output_names_the_secret_and_warns(settings):
    settings.DEBUG = False
    out = io.StringIO()
    call_command("seed_demo", "--i-know-this-is-production", stdout=out)
    text = out.getvalue()
    assert "otpauth://totp/" in text
    assert "published demo passwords" in text


def test_with_debug_the_operator_sets_up_two_factor_at_the_first_console_visit():
    made = _seed()
    assert made["operator"] == {"email": OPERATOR[0], "password": OPERATOR[1]}
    assert not Authenticator.objects.filter(user__email=OPERATOR[0]).exists()
