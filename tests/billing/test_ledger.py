"""The ledger: balanced, unique refs, never negative where guarded, append-only (in code and in
the database), and `ledger_check` recomputes everything."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from billing import ledger
from billing.db import missing_ledger_triggers
from billing.models import AppendOnlyError, LedgerAccount, LedgerEntry, LedgerTransaction
from billing.services import credit_grant
from tests.factories import CreditGrantFactory

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


def _funded(organization, cents=10_000):
    CreditGrantFactory(organization=organization, amount_cents=cents)
    return LedgerTransaction.objects.get(ref__startswith="credit:")


def test_posting_is_balanced_and_updates_cached_balances(organization):
    _funded(organization, 10_000)
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 10_000
    assert ledger.balance(Kind.PLATFORM_CREDIT) == -10_000
    txn = LedgerTransaction.objects.get()
    assert sum(txn.entries.values_list("amount_cents", flat=True)) == 0


def test_unbalanced_posting_is_refused(organization):
    available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
    with transaction.atomic(), pytest.raises(ledger.UnbalancedTransaction):
        ledger.post(ref="x", reason="test", lines=[ledger.Line(available, 5)])
    assert not LedgerTransaction.objects.exists()


def test_same_ref_never_posts_twice(organization):
    available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
    credit = ledger.account(Kind.PLATFORM_CREDIT)
    with transaction.atomic():
        ledger.transfer(
            ref="once", reason="t", source=credit, destination=available, amount_cents=100
        )
    with transaction.atomic(), pytest.raises(ledger.DuplicatePosting):
        ledger.transfer(
            ref="once", reason="t", source=credit, destination=available, amount_cents=100
        )
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 100
    assert LedgerEntry.objects.count() == 2


def test_guarded_account_never_goes_negative_and_leaves_nothing_behind(organization):
    _funded(organization, 500)
    available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
    held = ledger.account(Kind.COMPANY_HELD, organization=organization)
    with transaction.atomic():
        with pytest.raises(ledger.InsufficientFunds):
            ledger.transfer(
                ref="too-much",
                reason="hold",
                source=available,
                destination=held,
                amount_cents=501,
                guard_source=True,
            )
        # The caller caught the error and carries on: no half posting stays behind.
        assert not LedgerTransaction.objects.filter(ref="too-much").exists()
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 500


def test_post_outside_a_transaction_is_refused(organization):
    available = ledger.account(Kind.COMPANY_AVAILABLE, organization=organization)
    credit = ledger.account(Kind.PLATFORM_CREDIT)
    # pytest-django's test transaction counts as one; a real caller without atomic() does not.
    connection.in_atomic_block, saved = False, connection.in_atomic_block
    try:
        with pytest.raises(ledger.LedgerError):
            ledger.transfer(
                ref="bare", reason="t", source=credit, destination=available, amount_cents=1
            )
    finally:
        connection.in_atomic_block = saved


def test_entries_refuse_save_update_and_delete_in_code(organization):
    txn = _funded(organization)
    entry = txn.entries.first()
    entry.amount_cents = 1
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_cents=1)
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        txn.save()
    with pytest.raises(AppendOnlyError):
        LedgerTransaction.objects.all().update(reason="x")
    entry.refresh_from_db()
    assert entry.amount_cents == 10_000 or entry.amount_cents == -10_000


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE billing_ledgerentry SET amount_cents = amount_cents + 1",
        "DELETE FROM billing_ledgerentry",
        "UPDATE billing_ledgertransaction SET reason = 'forged'",
        "UPDATE billing_ledgertransaction SET memo = 'forged'",
        "DELETE FROM billing_ledgertransaction",
    ],
)
def test_database_triggers_refuse_raw_update_and_delete(organization, sql):
    _funded(organization)
    before = list(LedgerEntry.objects.order_by("pk").values_list("amount_cents", flat=True))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert list(LedgerEntry.objects.order_by("pk").values_list("amount_cents", flat=True)) == before
    assert LedgerTransaction.objects.filter(reason="credit_granted").count() == 1


def test_deleting_the_actor_only_clears_the_actor(organization, operator):
    grant = credit_grant(organization=organization, amount_cents=700, reason="r", actor=operator)
    txn = LedgerTransaction.objects.get(ref=f"credit:{grant.pk}")
    assert txn.actor_id == operator.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_ledgertransaction SET actor_id = NULL WHERE id = %s", [txn.pk]
        )
    txn = LedgerTransaction.objects.get(pk=txn.pk)
    assert txn.actor_id is None and txn.reason == "credit_granted"


def test_guard_triggers_are_installed():
    assert missing_ledger_triggers(connection) == []


def test_ledger_check_passes_on_a_consistent_ledger(organization, capsys):
    _funded(organization, 2_500)
    call_command("ledger_check")
    assert "OK" in capsys.readouterr().out


def test_ledger_check_fails_when_a_cached_balance_drifts(organization, capsys):
    _funded(organization, 2_500)
    LedgerAccount.objects.filter(kind=Kind.COMPANY_AVAILABLE).update(balance_cents=9_999)
    with pytest.raises(CommandError) as failed:
        call_command("ledger_check")
    assert failed.value.returncode == 1
    assert "company_available" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_can_still_flush_a_database_with_ledger_rows(organization):
    # The flush after this test DELETEs every row; the suite unlocks the SQLite triggers for it.
    _funded(organization, 100)
    assert LedgerEntry.objects.count() == 2
