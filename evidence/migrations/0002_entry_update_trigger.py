"""On PostgreSQL a trigger refuses every UPDATE of an evidence entry (the model refuses them in
code already; this stops raw SQL and other clients). DELETE stays possible for the retention
task, which records in the chain what it deleted. SQLite gets no trigger: evidence_verify is
what catches a changed row there (and everywhere)."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION evidence_entry_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'evidence entries are append-only (entry %)', OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER evidence_entry_no_update BEFORE UPDATE ON evidence_evidenceentry
    FOR EACH ROW EXECUTE FUNCTION evidence_entry_refuse_update();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS evidence_entry_no_update ON evidence_evidenceentry;
DROP FUNCTION IF EXISTS evidence_entry_refuse_update();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
