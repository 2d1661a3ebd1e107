"""API key lifecycle: create (shown once, hashed), use, revoke (401 at once)."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client

from marketplace.models import ApiKey, AuditLog
from tests.conftest import login_client
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _get_balance(raw_key: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    return Client().get("/api/v1/balance", **headers)


def test_owner_creates_a_key_that_is_shown_once_and_stored_hashed(company_member):
    client = login_client(company_member)
    response = client.post("/company/api-keys/", {"name": "prod pipeline"}, follow=True)
    raw = re.search(rb'value="(inl_[^"]+)"', response.content).group(1).decode()
    key = ApiKey.objects.get()
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:12]
    assert raw not in client.get("/company/api-keys/").content.decode()
    assert AuditLog.objects.filter(action="api_key.created").exists()


def test_creating_a_key_redirects_and_a_reload_neither_creates_nor_shows_a_key(company_member):
    """POST, redirect, GET: the key is shown once from the session; reloading the page that
    shows it is a GET, which creates nothing and shows the key no more (issue 13)."""
    client = login_client(company_member)
    response = client.post("/company/api-keys/", {"name": "prod pipeline"})
    assert response.status_code == 302
    assert response["Location"] == "/company/api-keys/"
    assert b"inl_" not in response.content
    shown = client.get("/company/api-keys/").content.decode()
    raw = re.search(r'value="(inl_[^"]+)"', shown).group(1)
    reloaded = client.get("/company/api-keys/").content.decode()
    assert raw not in reloaded and 'id="new-key"' not in reloaded
    assert ApiKey.objects.count() == 1
    assert AuditLog.objects.filter(action="api_key.created").count() == 1


def test_the_new_key_waits_in_this_session_only(company_member, plain_member):
    owner = login_client(company_member)
    owner.post("/company/api-keys/", {"name": "prod pipeline"})
    other = login_client(plain_member)
    assert 'id="new-key"' not in other.get("/company/api-keys/").content.decode()
    assert 'id="new-key"' in owner.get("/company/api-keys/").content.decode()


def test_a_key_authenticates_and_records_last_use(api_key):
    response = _get_balance(api_key)
    assert response.status_code == 200
    assert response.json() == {"available_cents": 0, "held_cents": 0, "currency": "usd"}
    assert ApiKey.objects.get().last_used_at is not None


def test_a_revoked_key_answers_401_at_once(company_member, api_key):
    key = ApiKey.objects.get()
    login_client(company_member).post(f"/company/api-keys/{key.pk}/revoke/")
    response = _get_balance(api_key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("raw", [None, "inl_wrong", "Bearer", "x" * 500])
def test_missing_or_wrong_keys_answer_401_in_the_envelope(db, raw):
    response = _get_balance(raw)
    assert response.status_code == 401
    body = response.json()
    assert set(body["error"]) == {"code", "message", "field"}


def test_member_cannot_create_or_revoke_keys(plain_member, api_key):
    client = login_client(plain_member)
    assert client.post("/company/api-keys/", {"name": "sneaky"}).status_code == 403
    key = ApiKey.objects.get()
    assert client.post(f"/company/api-keys/{key.pk}/revoke/").status_code == 403
    assert ApiKey.objects.get().revoked_at is None


def test_another_tenants_key_cannot_be_revoked(company_member, other_api_key):
    key = ApiKey.objects.get()
    assert (
        login_client(company_member).post(f"/company/api-keys/{key.pk}/revoke/").status_code == 404
    )
    assert _get_balance(other_api_key).status_code == 200


def test_keys_of_a_suspended_creator_stop_working(company_member, api_key, operator):
    from marketplace.services import user_suspend

    user_suspend(user=company_member, actor=operator, reason="chargebacks")
    assert _get_balance(api_key).status_code == 401


def test_creating_a_key_without_a_name_shows_the_error(company_member):
    response = login_client(company_member).post("/company/api-keys/", {"name": ""})
    assert response.status_code == 200
    assert not ApiKey.objects.exists()


# A key's creator leaves or is removed ---------------------------------------------------------
# Keys are the organization's: a pipeline must not break because a person left, so they keep
# working; but the person saw each key once and may have kept it, so removing someone who made
# keys offers to revoke them in the same step (checked by default), and the key page marks every
# key whose creator is no longer a member.


@pytest.fixture
def admin_member(organization):
    from marketplace.models import Membership, User

    user = UserFactory(email="ada.admin@acme.test", account_type=User.AccountType.COMPANY)
    MembershipFactory(organization=organization, user=user, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def admins_key(organization, admin_member) -> str:
    from marketplace.services import api_key_create

    _, raw = api_key_create(organization=organization, name="etl", actor=admin_member)
    return raw


def _membership(user):
    from marketplace.models import Membership

    return Membership.objects.get(user=user)


def test_the_team_page_offers_to_revoke_a_members_keys_checked_by_default(
    company_member, admin_member, admins_key
):
    page = login_client(company_member).get("/company/team/").content.decode()
    form = page.split(f'action="/company/team/{_membership(admin_member).pk}/remove/"')[1]
    form = form.split("</form>")[0]
    assert 'name="revoke_api_keys"' in form and "checked" in form
    assert "Also revoke the 1 API key ada.admin@acme.test created" in form


def test_removing_an_admin_with_revoke_stops_their_keys_and_only_theirs(
    company_member, admin_member, admins_key, api_key
):
    response = login_client(company_member).post(
        f"/company/team/{_membership(admin_member).pk}/remove/",
        {"revoke_api_keys": "1"},
        follow=True,
    )
    assert b"1 API key they created was revoked" in response.content
    assert _get_balance(admins_key).status_code == 401
    assert _get_balance(api_key).status_code == 200  # the owner's own key
    revoked = AuditLog.objects.get(action="api_key.revoked")
    assert revoked.actor == company_member and revoked.before["name"] == "etl"


def test_removing_an_admin_without_revoke_keeps_their_keys_working_and_marks_them(
    company_member, admin_member, admins_key
):
    response = login_client(company_member).post(
        f"/company/team/{_membership(admin_member).pk}/remove/", follow=True
    )
    assert b"1 API key they created still works" in response.content
    assert _get_balance(admins_key).status_code == 200
    removed = AuditLog.objects.get(action="membership.removed")
    assert removed.after == {"api_keys_still_working": [admins_key[:12]]}
    page = login_client(company_member).get("/company/api-keys/").content.decode()
    assert "ada.admin@acme.test (no longer a member: revoke and replace this key)" in page


def test_an_admin_who_leaves_keeps_the_pipeline_working_and_the_key_is_marked(
    company_member, admin_member, admins_key
):
    login_client(admin_member).post(f"/company/team/{_membership(admin_member).pk}/remove/")
    assert _get_balance(admins_key).status_code == 200
    page = login_client(company_member).get("/company/api-keys/").content.decode()
    assert "(no longer a member" in page


def test_a_current_members_key_is_not_marked(company_member, api_key):
    page = login_client(company_member).get("/company/api-keys/").content.decode()
    assert "(no longer a member" not in page
    assert "Keys belong to" in page  # the rule is written on the page


def test_only_admins_can_revoke_keys_when_removing(plain_member, organization):
    """A member leaving cannot take the organization's keys down with them (nor can they see
    the option); the leave itself still happens."""
    from marketplace.models import ApiKey, Membership
    from marketplace.services import api_key_create, membership_set_role

    owner = Membership.objects.get(organization=organization, role=Membership.Role.OWNER).user
    membership_set_role(membership=_membership(plain_member), role="admin", actor=owner)
    _, raw = api_key_create(organization=organization, name="theirs", actor=plain_member)
    membership_set_role(membership=_membership(plain_member), role="member", actor=owner)
    login_client(plain_member).post(
        f"/company/team/{_membership(plain_member).pk}/remove/", {"revoke_api_keys": "1"}
    )
    assert not Membership.objects.filter(user=plain_member).exists()
    assert ApiKey.objects.get(name="theirs").revoked_at is None
    assert _get_balance(raw).status_code == 200
