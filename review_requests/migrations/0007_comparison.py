# Comparison requests (issue #18): the content type, the candidate an annotation is on, and a
# review's comparison choices.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("review_requests", "0006_golden"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reviewrequest",
            name="content_type",
            field=models.CharField(
                choices=[
                    ("text", "Text"),
                    ("markdown", "Markdown"),
                    ("code", "Code"),
                    ("json", "JSON"),
                    ("chat", "Chat"),
                    ("comparison", "Comparison"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="annotation",
            name="candidate",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="review",
            name="comparison",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
