"""Database triggers that refuse UPDATE and DELETE of posted ledger rows (SQLite and PostgreSQL).

The SQL lives in billing/db.py, which also re-creates the triggers after every migrate.
"""

from django.db import migrations


def install(apps, schema_editor):
    from billing.db import install_ledger_triggers, register_sqlite_functions

    if schema_editor.connection.vendor == "sqlite":
        register_sqlite_functions(None, schema_editor.connection)
    install_ledger_triggers(schema_editor.connection)


def drop(apps, schema_editor):
    from billing.db import drop_ledger_triggers

    drop_ledger_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_payouts_refunds_append_only")]

    operations = [migrations.RunPython(install, drop)]
