from django.db import migrations


def load_taxonomy(apps, schema_editor):
    from experts.taxonomy import TAXONOMY

    Specialization = apps.get_model("experts", "Specialization")
    for slug, name, requires_credentials, children in TAXONOMY:
        parent, _ = Specialization.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "requires_credentials": requires_credentials, "depth": 0, "parent": None},
        )
        for child_slug, child_name in children:
            Specialization.objects.update_or_create(
                slug=f"{slug}.{child_slug}",
                defaults={
                    "name": child_name,
                    "requires_credentials": requires_credentials,
                    "depth": 1,
                    "parent": parent,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("experts", "0002_initial")]
    operations = [migrations.RunPython(load_taxonomy, migrations.RunPython.noop)]
