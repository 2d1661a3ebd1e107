"""Sign-up of both kinds, mandatory verification, MFA for operators, suspension."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from marketplace.models import AuditLog, Membership, User
from marketplace.services import user_suspend
from tests.conftest import give_operator_mfa, login_client
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _signup(client: Client, **fields):
    data = {"email": "new@example.test", "password1": PASSWORD, "password2": PASSWORD, **fields}
    return client.post("/accounts/signup/", data)


def _verify_from_last_email(client: Client) -> None:
    link = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+", mail.outbox[-1].body).group(
        0
    )
    path = "/" + link.split("/", 3)[3]
    assert client.post(path).status_code == 302


def test_expert_signup_requires_verification_then_lands_on_expert_dashboard():
    client = Client()
    response = _signup(client, account_type="expert")
    assert response.status_code == 302
    user = User.objects.get(email="new@example.test")
    assert user.account_type == "expert"
    assert not Membership.objects.filter(user=user).exists()
    # Not verified yet: logging in sends another confirmation instead of a session.
    assert client.get("/dashboard/").status_code == 302
    assert "confirm" in mail.outbox[-1].subject.lower() or "confirm" in mail.outbox[-1].body.lower()
    _verify_from_last_email(client)
    client.post("/accounts/login/", {"login": "new@example.test", "password": PASSWORD})
    assert client.get("/dashboard/")["Location"] == "/expert/"


def test_company_signup_creates_an_organization_owned_by_the_signer():
    client = Client()
    response = _signup(client, account_type="company", organization_name="Initech Labs")
    assert response.status_code == 302
    membership = Membership.objects.select_related("organization").get(
        user__email="new@example.test"
    )
    assert membership.role == "owner"
    assert membership.organization.name == "Initech Labs"
    assert membership.organization.webhook_secret.startswith("whsec_")


def test_company_signup_without_a_company_name_is_refused_and_creates_nothing():
    response = _signup(Client(), account_type="company", organization_name="  ")
    assert response.status_code == 200
    assert b"company" in response.content.lower()
    assert not User.objects.filter(email="new@example.test").exists()


def test_signup_with_a_taken_email_does_not_reveal_the_account(expert):
    client = Client()
    response = _signup(client, email=expert.email, account_type="expert")
    # No enumeration: the page answers like any sign-up; the owner gets an email instead.
    assert response.status_code == 302
    assert User.objects.filter(email=expert.email).count() == 1


def test_signup_without_account_type_is_refused():
    response = _signup(Client())
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.test").exists()


def test_login_is_audited(expert):
    client = Client()
    client.post("/accounts/login/", {"login": expert.email, "password": PASSWORD})
    assert AuditLog.objects.filter(action="auth.login", actor=expert).exists()


def test_operator_without_mfa_is_sent_to_set_it_up(operator):
    response = login_client(operator).get("/console/")
    assert response.status_code == 302
    assert "/accounts/2fa/totp/activate" in response["Location"]


def test_operator_with_mfa_reaches_the_console(operator):
    give_operator_mfa(operator)
    response = login_client(operator).get("/console/")
    assert response.status_code == 200


@pytest.mark.parametrize("who", ["expert", "company_member"])
def test_non_operators_get_403_on_the_console(request, who):
    user = request.getfixturevalue(who)
    assert login_client(user).get("/console/").status_code == 403


def test_anonymous_is_sent_to_login_from_the_console():
    response = Client().get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_suspended_user_cannot_log_in_and_loses_the_session(expert, operator):
    client = login_client(expert)
    user_suspend(user=expert, actor=operator, reason="fraud review")
    assert client.get("/expert/").status_code == 302  # session ended
    fresh = Client()
    fresh.post("/accounts/login/", {"login": expert.email, "password": PASSWORD})
    assert fresh.get("/dashboard/").status_code == 302
    assert "_auth_user_id" not in fresh.session


def test_createoperator_command_makes_a_verified_operator():
    from django.core.management import call_command

    call_command("createoperator", "ops@inloop.test", "--password", "a-long-password")
    user = User.objects.get(email="ops@inloop.test")
    assert user.is_operator and user.emailaddress_set.get().verified


@pytest.mark.parametrize(
    ("link", "checked"),
    [("?as=expert", "expert"), ("?as=company", "company"), ("?as=operator", None), ("?as=x", None)],
)
def test_the_sign_up_links_preselect_the_role_they_name(link, checked):
    """ "Sign up as an expert" / "as a company" open the form with that role chosen; an operator
    cannot be chosen by a link, and an unknown value chooses nothing."""
    # Each case from its own address: allauth counts sign-up page views against its rate limit.
    address = f"198.51.100.{len(link) + (ord(link[-1]) % 50)}"
    page = Client(REMOTE_ADDR=address).get("/accounts/signup/" + link).content.decode()
    radios = re.findall(r'<input type="radio" name="account_type" value="(\w+)"[^>]*>', page)
    assert sorted(radios) == ["company", "expert"]
    chosen = re.findall(r'<input type="radio" name="account_type" value="(\w+)"[^>]*checked', page)
    assert chosen == ([checked] if checked else [])


def test_the_home_page_links_each_role_to_its_own_sign_up():
    page = Client().get("/").content.decode()
    assert 'href="/accounts/signup/?as=expert"' in page
    assert 'href="/accounts/signup/?as=company"' in page


def test_a_new_expert_is_welcomed_as_new_not_back():
    # Its own address and email: allauth rate-limits sign-ups per address and confirmation
    # emails per address, and other tests here use new@example.test.
    client = Client(REMOTE_ADDR="203.0.113.41")
    _signup(client, account_type="expert", email="welcome@example.test")
    _verify_from_last_email(client)
    client.post("/accounts/login/", {"login": "welcome@example.test", "password": PASSWORD})
    page = client.get("/expert/").content.decode()
    assert "Welcome to Inloop" in page
    assert "Welcome back" not in page
