"""Credit grants and revocations, platform settings, the audit log and its CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CreditGrant
from billing.selectors import company_balance
from marketplace.models import AuditLog, PlatformSettings
from marketplace.selectors import (
    dispute_approval_threshold_cents,
    dispute_window_hours,
    platform_fee_percent,
)
from tests.conftest import give_operator_mfa, login_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def op_client(operator):
    give_operator_mfa(operator)
    return login_client(operator)


def confirm_credit(op_client, url, form):
    """The two steps of the credit form: the confirmation page (nothing moves yet), then the
    confirmation with the page's token."""
    page = op_client.post(url, form)
    assert page.status_code == 200
    token = re.search(r'name="request_token" value="([0-9a-f-]+)"', page.content.decode())
    return op_client.post(url, {**form, "confirm": "1", "request_token": token.group(1)})


def test_grant_then_revoke_credit_moves_the_balance_and_is_audited(
    op_client, operator, organization
):
    url = f"/console/organizations/{organization.pk}/"
    response = confirm_credit(
        op_client, url, {"direction": "grant", "amount": "250.00", "reason": "pilot credit"}
    )
    assert response.status_code == 302
    assert company_balance(organization=organization).available_cents == 25_000
    confirm_credit(op_client, url, {"direction": "revoke", "amount": "50", "reason": "overgrant"})
    assert company_balance(organization=organization).available_cents == 20_000
    assert list(
        CreditGrant.objects.order_by("created_at").values_list("amount_cents", flat=True)
    ) == [25_000, -5_000]
    actions = list(
        AuditLog.objects.filter(action__startswith="credit.").values_list("action", "actor")
    )
    assert ("credit.granted", operator.pk) in actions
    assert ("credit.revoked", operator.pk) in actions
    page = op_client.get(url)
    assert b"pilot credit" in page.content
    assert b"$200.00" in page.content


def test_the_credit_form_first_says_what_will_happen_and_moves_nothing(op_client, organization):
    url = f"/console/organizations/{organization.pk}/"
    page = op_client.post(url, {"direction": "grant", "amount": "250", "reason": "pilot"})
    assert (
        "Grant $250.00 of credit to Acme AI: its available balance goes from $0.00 to $250.00."
        in page.content.decode()
    )
    assert not CreditGrant.objects.exists()
    assert company_balance(organization=organization).available_cents == 0


def test_the_same_credit_form_posted_twice_grants_once(op_client, operator, organization):
    url = f"/console/organizations/{organization.pk}/"
    page = op_client.get(url).content.decode()
    token = re.search(r'name="request_token" value="([0-9a-f-]+)"', page).group(1)
    form = {
        "direction": "grant",
        "amount": "100",
        "reason": "pilot",
        "request_token": token,
        "confirm": "1",
    }
    assert op_client.post(url, form).status_code == 302
    assert op_client.post(url, form).status_code == 302  # a double click, a re-POST
    assert company_balance(organization=organization).available_cents == 10_000
    assert CreditGrant.objects.count() == 1
    assert AuditLog.objects.filter(action="credit.granted").count() == 1
    # The next form is a new change.
    fresh = re.search(
        r'name="request_token" value="([0-9a-f-]+)"', op_client.get(url).content.decode()
    ).group(1)
    assert fresh != token
    op_client.post(url, {**form, "request_token": fresh})
    assert company_balance(organization=organization).available_cents == 20_000


def test_credit_without_reason_is_refused_and_nothing_moves(op_client, organization):
    response = op_client.post(
        f"/console/organizations/{organization.pk}/",
        {"direction": "grant", "amount": "10", "reason": ""},
    )
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not CreditGrant.objects.exists()
    assert company_balance(organization=organization).available_cents == 0


def test_revoking_more_than_available_is_refused(op_client, organization):
    response = op_client.post(
        f"/console/organizations/{organization.pk}/",
        {"direction": "revoke", "amount": "10", "reason": "test"},
    )
    assert response.status_code == 200
    assert b"available to revoke" in response.content
    assert company_balance(organization=organization).available_cents == 0
    assert not CreditGrant.objects.exists()


def test_settings_change_fee_and_window_with_before_and_after(op_client, operator):
    response = op_client.post(
        "/console/settings/", {"fee_percent": "15.5", "dispute_window_hours": "48"}
    )
    assert response.status_code == 302
    assert platform_fee_percent() == Decimal("15.5")
    assert dispute_window_hours() == 48
    row = AuditLog.objects.get(action="platform_settings.updated")
    assert row.actor == operator
    assert row.before == {
        "fee_percent": None,
        "dispute_window_hours": None,
        "dispute_approval_threshold_cents": None,
    }
    assert row.after == {
        "fee_percent": "15.5",
        "dispute_window_hours": 48,
        "dispute_approval_threshold_cents": None,
    }
    # Empty fields go back to the defaults.
    op_client.post("/console/settings/", {"fee_percent": "", "dispute_window_hours": ""})
    assert PlatformSettings.objects.get().fee_percent is None


def test_settings_set_the_second_operator_threshold_in_dollars(settings, op_client, operator):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 100_000
    page = op_client.get("/console/settings/").content.decode()
    assert "$1,000.00 (default $1,000.00)" in page
    response = op_client.post("/console/settings/", {"dispute_approval_threshold": "250.50"})
    assert response.status_code == 302
    assert dispute_approval_threshold_cents() == 25_050
    row = AuditLog.objects.get(action="platform_settings.updated")
    assert row.after["dispute_approval_threshold_cents"] == 25_050
    page = op_client.get("/console/settings/").content.decode()
    assert "$250.50 (default $1,000.00)" in page and 'value="250.50"' in page
    op_client.post("/console/settings/", {"dispute_approval_threshold": ""})
    assert dispute_approval_threshold_cents() == 100_000


def test_settings_reject_a_negative_threshold(op_client):
    response = op_client.post("/console/settings/", {"dispute_approval_threshold": "-1"})
    assert response.status_code == 200
    assert not PlatformSettings.objects.exists()


def test_settings_reject_a_fee_over_100_percent(op_client):
    response = op_client.post("/console/settings/", {"fee_percent": "150"})
    assert response.status_code == 200
    assert b"less than or equal to 100" in response.content
    assert not PlatformSettings.objects.exists()


@pytest.fixture
def audit_rows(operator, other_operator):
    from marketplace.services import audit_record

    old = audit_record(actor=operator, action="user.suspended", object_type="user", object_id=7)
    AuditLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    audit_record(
        actor=other_operator,
        action="credit.granted",
        object_type="organization",
        object_id="abc",
        after={"amount_cents": 500},
    )
    audit_record(actor=operator, action="dispute.resolved", object_type="dispute", object_id="d-1")


def test_audit_search_by_actor_action_object_and_dates(op_client, audit_rows):
    def listed(**params):
        content = op_client.get("/console/audit/", params).content.decode()
        return {a for a in ("user.suspended", "credit.granted", "dispute.resolved") if a in content}

    assert listed(actor="oscar") == {"credit.granted"}
    assert listed(action="dispute") == {"dispute.resolved"}
    assert listed(object="user:7") == {"user.suspended"}
    assert listed(object="abc") == {"credit.granted"}
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert listed(date_from=since, actor="olivia") == {"dispute.resolved"}


def test_audit_date_range_backwards_is_an_error_next_to_the_field(op_client, audit_rows):
    response = op_client.get(
        "/console/audit/", {"date_from": "2025-02-01", "date_to": "2025-01-01"}
    )
    assert b"The end date is before the start date." in response.content


def test_audit_list_is_paginated(op_client, operator):
    from marketplace.services import audit_record

    for i in range(55):
        audit_record(actor=operator, action=f"test.action{i}")
    first = op_client.get("/console/audit/").content.decode()
    second = op_client.get("/console/audit/", {"page": 2}).content.decode()
    assert "Page 1 of 2" in first
    assert "Page 2 of 2" in second


def test_audit_csv_export_streams_the_filtered_rows_and_is_itself_audited(
    op_client, operator, audit_rows
):
    response = op_client.get("/console/audit/export.csv", {"actor": "oscar"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["time", "actor", "action"]
    assert [r[2] for r in rows[1:]] == ["credit.granted"]
    assert rows[1][7] == '{"amount_cents": 500}'
    assert AuditLog.objects.filter(action="audit.exported", actor=operator).exists()
