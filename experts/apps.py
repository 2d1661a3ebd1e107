from django.apps import AppConfig


class ExpertsConfig(AppConfig):
    name = "experts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experts import receivers  # noqa: F401 - connects the match-row receivers
