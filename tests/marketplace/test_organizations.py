"""Invitations, roles, removal, and the role matrix of the team pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from marketplace import services
from marketplace.models import Invitation, Membership
from tests.conftest import login_client
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _capture(django_capture_on_commit_callbacks):
    global _commit
    _commit = django_capture_on_commit_callbacks


_commit = None


def _invite(client, email="new.hire@acme.test", role="member"):
    # Invitation emails go out after commit: run those callbacks as the request ends.
    with _commit(execute=True):
        return client.post("/company/team/", {"email": email, "role": role})


def _token_from_email() -> str:
    return re.search(r"/invitations/([^/\s]+)/", mail.outbox[-1].body).group(1)


def test_owner_invites_and_a_new_person_joins_with_the_link(company_member, organization):
    assert _invite(login_client(company_member)).status_code == 302
    token = _token_from_email()
    client = Client()
    response = client.post(f"/invitations/{token}/", {"password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="new.hire@acme.test")
    assert membership.organization == organization and membership.role == "member"
    assert client.get("/dashboard/")["Location"] == "/company/"


def test_an_invitation_works_once(company_member):
    _invite(login_client(company_member))
    token = _token_from_email()
    Client().post(f"/invitations/{token}/", {"password1": PASSWORD, "password2": PASSWORD})
    response = Client().get(f"/invitations/{token}/")
    assert response.status_code == 410
    assert b"already been used" in response.content


def test_an_expired_invitation_is_refused(company_member):
    _invite(login_client(company_member))
    token = _token_from_email()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().post(
        f"/invitations/{token}/", {"password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 410
    assert not Membership.objects.filter(user__email="new.hire@acme.test").exists()


def test_an_existing_company_account_accepts_after_logging_in(company_member, other_company_member):
    # Gina already owns Globex: one organization per person, so accepting is refused.
    _invite(login_client(company_member), email=other_company_member.email)
    token = _token_from_email()
    response = login_client(other_company_member).post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert Membership.objects.filter(user=other_company_member).count() == 1
    assert Invitation.objects.get().accepted_at is None


def test_invitation_for_someone_else_is_refused(company_member, expert):
    _invite(login_client(company_member))
    token = _token_from_email()
    login_client(expert).post(f"/invitations/{token}/")
    assert not Membership.objects.filter(user=expert).exists()


def test_member_cannot_invite(plain_member):
    response = _invite(login_client(plain_member))
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_says_so(company_member, plain_member):
    response = _invite(login_client(company_member), email=plain_member.email)
    assert response.status_code == 200
    assert b"already a member" in response.content
    assert not Invitation.objects.exists()


def test_the_last_owner_cannot_leave(company_member, organization):
    membership = Membership.objects.get(user=company_member)
    response = login_client(company_member).post(
        f"/company/team/{membership.pk}/remove/", follow=True
    )
    assert b"last owner" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_the_last_owner_cannot_step_down(company_member):
    membership = Membership.objects.get(user=company_member)
    login_client(company_member).post(f"/company/team/{membership.pk}/role/", {"role": "member"})
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_owner_removes_a_member(company_member, plain_member):
    membership = Membership.objects.get(user=plain_member)
    login_client(company_member).post(f"/company/team/{membership.pk}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_member_cannot_remove_others(plain_member, company_member):
    owner_membership = Membership.objects.get(user=company_member)
    response = login_client(plain_member).post(f"/company/team/{owner_membership.pk}/remove/")
    assert response.status_code == 403


def test_another_tenants_member_is_404(company_member, other_company_member):
    foreign = Membership.objects.get(user=other_company_member)
    response = login_client(company_member).post(f"/company/team/{foreign.pk}/remove/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_role_change_is_audited(company_member, plain_member):
    membership = Membership.objects.get(user=plain_member)
    login_client(company_member).post(f"/company/team/{membership.pk}/role/", {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == "admin"
    from marketplace.models import AuditLog

    entry = AuditLog.objects.get(action="membership.role_changed")
    assert entry.before == {"role": "member"} and entry.after["role"] == "admin"


@pytest.mark.parametrize("path", ["/company/team/", "/company/api-keys/"])
def test_company_pages_role_matrix(path, company_member, plain_member, expert, operator):
    assert login_client(company_member).get(path).status_code == 200
    assert login_client(plain_member).get(path).status_code == 200
    assert login_client(expert).get(path).status_code == 403
    assert login_client(operator).get(path).status_code == 403
    assert Client().get(path).status_code == 302


def test_webhook_secret_rotation_needs_admin(company_member, plain_member, organization):
    before = organization.webhook_secret
    assert login_client(plain_member).post("/company/webhook-secret/rotate/").status_code == 403
    organization.refresh_from_db()
    assert organization.webhook_secret == before
    login_client(company_member).post("/company/webhook-secret/rotate/")
    organization.refresh_from_db()
    assert organization.webhook_secret != before


def test_service_refuses_owner_invite_by_admin(company_member, organization, plain_member):
    services.membership_set_role(
        membership=Membership.objects.get(user=plain_member), role="admin", actor=company_member
    )
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.invitation_create(
            organization=organization, inviter=plain_member, email="x@y.test", role="owner"
        )


def test_webhook_secret_rotation_does_not_redirect_off_site(company_member):
    response = login_client(company_member).post(
        "/company/webhook-secret/rotate/", {"next": "https://evil.example/phish"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/company/api-keys/"
