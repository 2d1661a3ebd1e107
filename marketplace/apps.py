from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Inloop platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from marketplace import receivers, taskwake  # noqa: F401
