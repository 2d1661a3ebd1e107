"""Recompute every account balance from its entries and every transaction's sum; exit 1 on any
mismatch (a cached balance that drifted, an unbalanced transaction, a missing guard trigger)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count, Sum

from billing.db import missing_ledger_triggers
from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction


class Command(BaseCommand):
    help = "Check the ledger: balances = sums of entries, every transaction sums to zero."

    def handle(self, *args, **options):
        problems: list[str] = []
        sums = dict(
            LedgerEntry.objects.values("account_id")
            .annotate(total=Sum("amount_cents"))
            .values_list("account_id", "total")
        )
        accounts = 0
        for account in LedgerAccount.objects.order_by("pk").iterator(chunk_size=2000):
            accounts += 1
            expected = sums.get(account.pk, 0) or 0
            if account.balance_cents != expected:
                problems.append(
                    f"account {account.pk} {account.kind} {account.owner_key}: cached "
                    f"{account.balance_cents}, entries sum to {expected}"
                )
        unbalanced = (
            LedgerEntry.objects.values("transaction_id")
            .annotate(total=Sum("amount_cents"))
            .exclude(total=0)
            .values_list("transaction_id", "total")
        )
        for txn_id, total in unbalanced:
            problems.append(f"transaction {txn_id} sums to {total}, not 0")
        empty = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n=0)
        for txn_id in empty.values_list("pk", flat=True):
            problems.append(f"transaction {txn_id} has no entries")
        for name in missing_ledger_triggers(connection):
            problems.append(f"append-only trigger {name} is missing (run migrate)")
        transactions = LedgerTransaction.objects.count()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"Ledger check failed: {len(problems)} problem(s).", returncode=1)
        self.stdout.write(f"OK: {accounts} accounts and {transactions} transactions agree.")
