"""Database-level guards for the ledger: triggers that refuse UPDATE and DELETE of posted rows.

The model layer refuses changes too (billing.models.AppendOnlyModel), but only the database
can stop raw SQL, a stray `QuerySet._raw_delete` or another program. The triggers are created
by migration 0003 and re-created after every `migrate` (post_migrate), because SQLite drops a
table's triggers when a later migration rebuilds the table.

- PostgreSQL: one plpgsql function raising on UPDATE/DELETE of a ledger entry or transaction.
  TRUNCATE (what the test suite's flush uses, and which needs the table owner) does not fire
  row triggers.
- SQLite: RAISE(ABORT) triggers guarded by `inloop_ledger_unlocked()`, an SQL function that
  every Django connection registers. It returns 1 only inside `ledger_maintenance()`, which the
  test suite uses to flush its database between transactional tests. Any other program (the
  sqlite3 shell) does not have the function, so its UPDATE/DELETE fails as well.

The one UPDATE allowed on a ledger transaction: setting `actor_id` to NULL, which is what
deleting a user (on_delete=SET_NULL) does; the money columns never change.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_unlocked_depth = 0

LEDGER_TABLES = ("billing_ledgerentry", "billing_ledgertransaction")


@contextlib.contextmanager
def ledger_maintenance() -> Iterator[None]:
    """Let this process delete ledger rows on SQLite (flushing a test database only)."""
    global _unlocked_depth
    with _lock:
        _unlocked_depth += 1
    try:
        yield
    finally:
        with _lock:
            _unlocked_depth -= 1


def _sqlite_unlocked() -> int:
    return 1 if _unlocked_depth > 0 else 0


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """connection_created receiver: give every SQLite connection the trigger's function."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("inloop_ledger_unlocked", 0, _sqlite_unlocked)


_TRANSACTION_CHANGED_SQLITE = (
    "NEW.id IS NOT OLD.id OR NEW.ref IS NOT OLD.ref OR NEW.reason IS NOT OLD.reason "
    "OR NEW.memo IS NOT OLD.memo OR NEW.organization_id IS NOT OLD.organization_id "
    "OR NEW.created_at IS NOT OLD.created_at OR NEW.actor_id IS NOT NULL"
)

SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS billing_ledgerentry_no_update
    BEFORE UPDATE ON billing_ledgerentry WHEN NOT inloop_ledger_unlocked()
    BEGIN SELECT RAISE(ABORT, 'billing_ledgerentry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS billing_ledgerentry_no_delete
    BEFORE DELETE ON billing_ledgerentry WHEN NOT inloop_ledger_unlocked()
    BEGIN SELECT RAISE(ABORT, 'billing_ledgerentry is append-only: DELETE refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS billing_ledgertransaction_no_update
    BEFORE UPDATE ON billing_ledgertransaction
    WHEN NOT inloop_ledger_unlocked() AND ({_TRANSACTION_CHANGED_SQLITE})
    BEGIN SELECT RAISE(ABORT, 'billing_ledgertransaction is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS billing_ledgertransaction_no_delete
    BEFORE DELETE ON billing_ledgertransaction WHEN NOT inloop_ledger_unlocked()
    BEGIN SELECT RAISE(ABORT, 'billing_ledgertransaction is append-only: DELETE refused'); END""",
]
SQLITE_TRIGGER_NAMES = [
    "billing_ledgerentry_no_update",
    "billing_ledgerentry_no_delete",
    "billing_ledgertransaction_no_update",
    "billing_ledgertransaction_no_delete",
]

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION billing_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Nested IFs: PL/pgSQL does not short-circuit, and entries have no column "ref".
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'billing_ledgertransaction' THEN
    IF NEW.id = OLD.id AND NEW.ref = OLD.ref AND NEW.reason = OLD.reason
       AND NEW.memo = OLD.memo AND NEW.created_at = OLD.created_at
       AND NEW.organization_id IS NOT DISTINCT FROM OLD.organization_id
       AND NEW.actor_id IS NULL THEN
      RETURN NEW;  -- the actor's user was deleted (on_delete=SET_NULL); money is untouched
    END IF;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$
"""
POSTGRES_TRIGGER_NAMES = [
    "billing_ledgerentry_append_only",
    "billing_ledgertransaction_append_only",
]


def _postgres_statements() -> list[str]:
    statements = [POSTGRES_FUNCTION]
    for table, name in zip(LEDGER_TABLES, POSTGRES_TRIGGER_NAMES, strict=True):
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only()"
        )
    return statements


def install_ledger_triggers(connection) -> None:
    if connection.vendor == "sqlite":
        statements = SQLITE_TRIGGERS
    elif connection.vendor == "postgresql":
        statements = _postgres_statements()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        return
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def drop_ledger_triggers(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in SQLITE_TRIGGER_NAMES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif connection.vendor == "postgresql":
            for table, name in zip(LEDGER_TABLES, POSTGRES_TRIGGER_NAMES, strict=True):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS billing_ledger_append_only()")


def missing_ledger_triggers(connection) -> list[str]:
    """Names of the guard triggers that are not in the database (ledger_check reports them)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            present = {row[0] for row in cursor.fetchall()}
            return [name for name in SQLITE_TRIGGER_NAMES if name not in present]
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            present = {row[0] for row in cursor.fetchall()}
            return [name for name in POSTGRES_TRIGGER_NAMES if name not in present]
    return []


def ensure_ledger_triggers(sender, using="default", **kwargs) -> None:
    """post_migrate receiver: put back triggers a table rebuild may have dropped."""
    from django.db import connections

    connection = connections[using]
    tables = set(connection.introspection.table_names())
    if set(LEDGER_TABLES) <= tables:
        install_ledger_triggers(connection)
