from django.db import migrations, models

COLUMNS = (
    "expert_id, user_id, exact, years, best_spec_id, timezone, always_available, "
    "max_concurrent, current_load, rating_avg, rating_count, completion_rate, on_time_rate, "
    "credential_until, full0, full1, full2, any0, any1, any2"
)


def covering_index(apps, schema_editor):
    # PostgreSQL only (SQLite has no INCLUDE): ranking becomes an index-only scan of one node.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS matchrow_rank_covering ON experts_matchrow "
            f"(node_id, rate_cents) INCLUDE ({COLUMNS})"
        )


def drop_covering_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS matchrow_rank_covering")


class Migration(migrations.Migration):
    dependencies = [("experts", "0005_build_match_rows")]

    operations = [
        migrations.RemoveIndex(model_name="matchrow", name="matchrow_rank"),
        migrations.AddIndex(
            model_name="matchrow",
            index=models.Index(fields=["node", "rate_cents"], name="matchrow_node_rate"),
        ),
        migrations.RunPython(covering_index, drop_covering_index),
    ]
