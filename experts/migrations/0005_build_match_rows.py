from django.db import migrations


def build(apps, schema_editor):
    # The match rows are a cache of the tables above; building them with the current code is
    # safe because the cache can always be rebuilt (`manage.py match_rows_rebuild`).
    from experts.match_index import match_rows_rebuild_all

    match_rows_rebuild_all()


class Migration(migrations.Migration):
    dependencies = [("experts", "0004_match_rows")]
    operations = [migrations.RunPython(build, migrations.RunPython.noop)]
