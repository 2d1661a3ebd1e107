"""seed_demo as the contract describes it ("Demo data" in contract/API.md): one JSON object, a
believable marketplace where every account logs in, a funded company, and someone on call for
every specialization at any hour; running it again duplicates nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from billing.selectors import company_balance
from experts.matching import candidates_rank
from experts.models import Credential, ExpertProfile, Specialization
from marketplace.models import ApiKey, Organization, User

pytestmark = pytest.mark.django_db


def _seed() -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
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
