"""The double-entry ledger: the only code that writes LedgerEntry rows.

Every movement is one LedgerTransaction whose entries sum to zero, posted inside the caller's
database transaction, with a unique `ref` so the same step can never post twice.
Convention: a positive amount increases the account's balance (money "in" that account).
Posted rows are never changed (billing.models.AppendOnlyModel and the triggers of billing.db);
a mistake is corrected by a new, reversing transaction.

The flows (ref in brackets; <hold> is the caller's hold ref, e.g. an assignment's):

| step | from | to | ref |
| --- | --- | --- | --- |
| card top-up (verified webhook) | platform_stripe_clearing | company_available | pi_... |
| operator credit (revoked: reverse) | platform_credit | company_available | credit:<id> |
| hold on accept | company_available (platform_refunds if a rework grant makes the platform pay) | company_held (platform_held) | <hold>:hold |
| capture on submit | held | expert_pending + platform_fees + rest back to the payer | <hold>:capture |
| release | held | the payer | <hold>:release |
| dispute window over | expert_pending | expert_available | earning:<id>:available |
| payout created | expert_available | expert_paid_out | payout:<id> (retry: payout:<id>:retry:<n>) |
| transfer failed | expert_paid_out | expert_available | payout:<id>:failed:<attempt> |
| reversed by Stripe, not by us | expert_paid_out | expert_available | stripe-reversal:<trr_id> |
| refund | platform_fees + expert pending/available (or platform_refunds once paid out) | the payer | refund:<id> |
| our reversal succeeded | expert_paid_out | platform_refunds | transfer-reversal:<id> |
| an operator's reversal succeeded | expert_paid_out | expert_available | transfer-reversal:<id> |

A refused reversal leaves its amount in platform_refunds: the platform's shortfall.

Every posting also writes one audit-log row in the same transaction (action `money.<reason>`,
object `ledger:<ref>`, each touched account's balance before and after), so the console's audit
log holds every money movement next to the operator actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.models import AuditLog

Kind = LedgerAccount.Kind
COMPANY_KINDS = {Kind.COMPANY_AVAILABLE, Kind.COMPANY_HELD}
EXPERT_KINDS = {Kind.EXPERT_PENDING, Kind.EXPERT_AVAILABLE, Kind.EXPERT_PAID_OUT}
# Kinds post_many refuses to take below zero (post() guards the accounts its caller names).
NEVER_NEGATIVE_KINDS = {Kind.COMPANY_AVAILABLE, Kind.EXPERT_AVAILABLE}


class LedgerError(Exception):
    pass


class UnbalancedTransaction(LedgerError):
    pass


class DuplicatePosting(LedgerError):
    """The ref was already posted: the step happened before and must not happen again."""


class InsufficientFunds(LedgerError):
    def __init__(self, *, available_cents: int, needed_cents: int):
        super().__init__(
            f"The balance of {available_cents} cents does not cover {needed_cents} cents."
        )
        self.available_cents = available_cents
        self.needed_cents = needed_cents


def _account_label(account_row: LedgerAccount) -> str:
    if account_row.owner_key == "platform":
        return account_row.kind
    return f"{account_row.kind} {account_row.owner_key}"


def _audit_row(
    *, ref: str, reason: str, organization, actor, before: dict[str, int], after: dict[str, int]
) -> AuditLog:
    """One money movement for the audit log (built here, saved by the caller)."""
    has_actor = actor is not None and getattr(actor, "pk", None)
    return AuditLog(
        actor=actor if has_actor else None,
        actor_label=actor.email if has_actor else "system",
        organization=organization,
        action=f"money.{reason}"[:64],
        object_type="ledger",
        object_id=ref[:64],
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class Line:
    account: LedgerAccount
    amount_cents: int


def _owner_key(*, organization=None, user=None) -> str:
    if organization is not None:
        return f"org:{organization.pk}"
    if user is not None:
        return f"user:{user.pk}"
    return "platform"


def account(kind: str, *, organization=None, user=None, currency: str = "usd") -> LedgerAccount:
    """The account of that kind and owner, created on first use."""
    if kind in COMPANY_KINDS and organization is None:
        raise LedgerError(f"{kind} needs an organization")
    if kind in EXPERT_KINDS and user is None:
        raise LedgerError(f"{kind} needs a user")
    owner_key = _owner_key(organization=organization, user=user)
    found = LedgerAccount.objects.filter(kind=kind, owner_key=owner_key, currency=currency).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                kind=kind,
                owner_key=owner_key,
                organization=organization,
                user=user,
                currency=currency,
            )
    except IntegrityError:
        return LedgerAccount.objects.get(kind=kind, owner_key=owner_key, currency=currency)


def post(
    *,
    ref: str,
    reason: str,
    lines: Iterable[Line],
    memo: str = "",
    organization=None,
    actor=None,
    never_negative: Iterable[LedgerAccount] = (),
) -> LedgerTransaction:
    """Post one balanced transaction. Accounts named in `never_negative` are locked first and
    the posting is refused with InsufficientFunds if it would take any of them below zero."""
    lines, delta_by_account = _post_validate(ref=ref, lines=lines)
    guarded = {acc.pk for acc in never_negative}

    # Lock in primary-key order so two postings never deadlock each other.
    locked = {
        acc.pk: acc
        for acc in LedgerAccount.objects.select_for_update()
        .filter(pk__in=sorted(delta_by_account))
        .order_by("pk")
    }
    for pk in guarded:
        delta = delta_by_account.get(pk, 0)
        if delta < 0 and locked[pk].balance_cents + delta < 0:
            raise InsufficientFunds(available_cents=locked[pk].balance_cents, needed_cents=-delta)

    # One savepoint for the whole posting: if any step fails (a duplicate ref, a guard that
    # trips on SQLite where row locks do not exist), nothing of it stays in the caller's
    # transaction, even when the caller catches the error and carries on.
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(
                ref=ref, reason=reason, memo=memo[:500], organization=organization, actor=actor
            )
            _post_write(
                txn=txn,
                lines=lines,
                delta_by_account=delta_by_account,
                guarded=guarded,
                locked=locked,
            )
            _audit_row(
                ref=ref,
                reason=reason,
                organization=organization,
                actor=actor,
                before={_account_label(locked[pk]): locked[pk].balance_cents for pk in locked},
                after={
                    _account_label(locked[pk]): locked[pk].balance_cents + delta_by_account[pk]
                    for pk in locked
                },
            ).save()
    except IntegrityError as exc:
        if LedgerTransaction.objects.filter(ref=ref).exists():
            raise DuplicatePosting(ref) from exc
        raise
    return txn


def _post_validate(*, ref: str, lines: Iterable[Line]) -> tuple[list[Line], dict[int, int]]:
    """The non-zero lines of a posting and the net change per account, after checking that they
    balance and that the caller's transaction is open."""
    lines = [line for line in lines if line.amount_cents != 0]
    if not lines:
        raise UnbalancedTransaction("A transaction needs at least one non-zero line.")
    total = sum(line.amount_cents for line in lines)
    if total != 0:
        raise UnbalancedTransaction(f"Lines of {ref} sum to {total}, not 0.")
    if not transaction.get_connection().in_atomic_block:
        raise LedgerError(
            "ledger.post must run inside the transaction of the change that causes it"
        )
    delta_by_account: dict[int, int] = {}
    for line in lines:
        delta_by_account[line.account.pk] = (
            delta_by_account.get(line.account.pk, 0) + line.amount_cents
        )
    return lines, delta_by_account


def _post_write(
    *,
    txn: LedgerTransaction,
    lines: list[Line],
    delta_by_account: dict[int, int],
    guarded: set[int],
    locked: dict[int, LedgerAccount],
) -> None:
    """The entries of `txn` and the new cached balances; runs inside post's savepoint."""
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=txn, account_id=line.account.pk, amount_cents=line.amount_cents)
            for line in lines
        ]
    )
    for pk, delta in delta_by_account.items():
        qs = LedgerAccount.objects.filter(pk=pk)
        if pk in guarded and delta < 0:
            # On SQLite the conditional keeps the no-negative rule without row locks.
            qs = qs.filter(balance_cents__gte=-delta)
        if qs.update(balance_cents=F("balance_cents") + delta) != 1:
            raise InsufficientFunds(available_cents=locked[pk].balance_cents, needed_cents=-delta)


def transfer(
    *,
    ref: str,
    reason: str,
    source: LedgerAccount,
    destination: LedgerAccount,
    amount_cents: int,
    guard_source: bool = False,
    **kwargs,
) -> LedgerTransaction:
    """The common two-line posting: amount out of `source`, into `destination`."""
    return post(
        ref=ref,
        reason=reason,
        lines=[Line(source, -amount_cents), Line(destination, amount_cents)],
        never_negative=[source] if guard_source else (),
        **kwargs,
    )


def balance(kind: str, *, organization=None, user=None, currency: str = "usd") -> int:
    owner_key = _owner_key(organization=organization, user=user)
    row = (
        LedgerAccount.objects.filter(kind=kind, owner_key=owner_key, currency=currency)
        .only("balance_cents")
        .first()
    )
    return row.balance_cents if row else 0


@dataclass(frozen=True)
class Posting:
    ref: str
    reason: str
    lines: list[Line]
    organization: object = None
    memo: str = ""


def post_many(postings: list[Posting]) -> int:
    """Post many balanced transactions in a few queries (payout runs over thousands of experts).

    Locks every account involved in primary-key order, checks that no account of a kind that
    must never go negative would, then bulk-inserts transactions and entries and writes the new
    cached balances. All or nothing: a duplicate ref fails the whole batch."""
    if not postings:
        return 0
    delta_by_account = _post_many_validate(postings)
    accounts = list(
        LedgerAccount.objects.select_for_update()
        .filter(pk__in=sorted(delta_by_account))
        .order_by("pk")
    )
    audit_rows = _post_many_audit_rows(postings=postings, accounts=accounts)
    for account_row in accounts:
        delta = delta_by_account[account_row.pk]
        if (
            account_row.kind in NEVER_NEGATIVE_KINDS
            and delta < 0
            and account_row.balance_cents + delta < 0
        ):
            raise InsufficientFunds(available_cents=account_row.balance_cents, needed_cents=-delta)
        account_row.balance_cents += delta
    try:
        with transaction.atomic():
            _post_many_write(postings=postings, accounts=accounts, audit_rows=audit_rows)
    except IntegrityError as exc:
        raise DuplicatePosting(", ".join(p.ref for p in postings[:3])) from exc
    return len(postings)


def _post_many_validate(postings: list[Posting]) -> dict[int, int]:
    """The net change per account of a batch, after checking that every posting balances and
    that the caller's transaction is open."""
    if not transaction.get_connection().in_atomic_block:
        raise LedgerError("ledger.post_many must run inside the transaction that causes it")
    delta_by_account: dict[int, int] = {}
    for posting in postings:
        lines = [line for line in posting.lines if line.amount_cents != 0]
        total = sum(line.amount_cents for line in lines)
        if not lines or total != 0:
            raise UnbalancedTransaction(f"Lines of {posting.ref} sum to {total}, not 0.")
        for line in lines:
            delta_by_account[line.account.pk] = (
                delta_by_account.get(line.account.pk, 0) + line.amount_cents
            )
    return delta_by_account


def _post_many_audit_rows(
    *, postings: list[Posting], accounts: list[LedgerAccount]
) -> list[AuditLog]:
    """Each posting's before and after, as if posted one by one in list order."""
    by_pk = {account_row.pk: account_row for account_row in accounts}
    running = {account_row.pk: account_row.balance_cents for account_row in accounts}
    audit_rows = []
    for posting in postings:
        touched = {line.account.pk for line in posting.lines if line.amount_cents != 0}
        before = {_account_label(by_pk[pk]): running[pk] for pk in touched}
        for line in posting.lines:
            running[line.account.pk] += line.amount_cents
        audit_rows.append(
            _audit_row(
                ref=posting.ref,
                reason=posting.reason,
                organization=posting.organization,
                actor=None,
                before=before,
                after={_account_label(by_pk[pk]): running[pk] for pk in touched},
            )
        )
    return audit_rows


def _post_many_write(
    *, postings: list[Posting], accounts: list[LedgerAccount], audit_rows: list[AuditLog]
) -> None:
    """The batch's transactions, entries, balances and audit rows; runs inside its savepoint."""
    transactions = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(
                ref=posting.ref,
                reason=posting.reason,
                memo=posting.memo[:500],
                organization=posting.organization,
            )
            for posting in postings
        ]
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                transaction_id=txn.pk,
                account_id=line.account.pk,
                amount_cents=line.amount_cents,
            )
            for txn, posting in zip(transactions, postings, strict=True)
            for line in posting.lines
            if line.amount_cents != 0
        ],
        batch_size=2000,
    )
    LedgerAccount.objects.bulk_update(accounts, ["balance_cents"], batch_size=2000)
    AuditLog.objects.bulk_create(audit_rows, batch_size=2000)
