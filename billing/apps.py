from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.db import ensure_ledger_triggers, register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="billing_sqlite_fns")
        post_migrate.connect(ensure_ledger_triggers, sender=self, dispatch_uid="billing_triggers")
