"""Every money movement is in the audit log: one row per posting, in the same transaction, with
the balances before and after, found by the console's audit search."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from billing import ledger, payouts, services
from billing.models import LedgerAccount, LedgerTransaction
from marketplace.models import AuditLog
from tests.conftest import give_operator_mfa, login_client
from tests.factories import CreditGrantFactory, EarningFactory

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


def test_a_hold_is_audited_with_balances_before_and_after(organization, expert):
    CreditGrantFactory(organization=organization, amount_cents=10_000)
    with transaction.atomic():
        services.hold_place(organization=organization, ref="a:1", amount_cents=3_000, actor=expert)
    row = AuditLog.objects.get(action="money.hold")
    owner = f"org:{organization.pk}"
    assert (row.object_type, row.object_id, row.actor, row.organization) == (
        "ledger",
        "a:1:hold",
        expert,
        organization,
    )
    assert row.before == {f"company_available {owner}": 10_000, f"company_held {owner}": 0}
    assert row.after == {f"company_available {owner}": 7_000, f"company_held {owner}": 3_000}


def test_a_refused_posting_leaves_no_audit_row(organization):
    with pytest.raises(ledger.InsufficientFunds), transaction.atomic():
        services.hold_place(organization=organization, ref="a:2", amount_cents=1, actor=None)
    assert not AuditLog.objects.filter(action__startswith="money.").exists()


def test_every_posting_has_its_audit_row(settings, organization, expert):
    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    earning = EarningFactory(organization=organization, user=expert)
    type(earning).objects.filter(pk=earning.pk).update(available_at=timezone.now())
    services.earnings_mature_due()
    payouts.payout_run(minimum_cents=1)  # posted in bulk (ledger.post_many)
    refs = set(LedgerTransaction.objects.values_list("ref", flat=True))
    audited = set(AuditLog.objects.filter(object_type="ledger").values_list("object_id", flat=True))
    assert refs == audited
    payout_row = AuditLog.objects.get(action="money.payout")
    label = f"expert_available user:{expert.pk}"
    assert (payout_row.before[label], payout_row.after[label]) == (6_000, 0)


def test_the_console_finds_a_money_movement_by_its_ref(operator, organization):
    CreditGrantFactory(organization=organization, amount_cents=2_500)
    ref = LedgerTransaction.objects.get().ref
    give_operator_mfa(operator)
    client = login_client(operator)
    page = client.get("/console/audit/", {"object": f"ledger:{ref}"}).content.decode()
    assert "money.credit_granted" in page
    assert (
        "money.credit_granted"
        in client.get("/console/audit/", {"action": "money."}).content.decode()
    )
