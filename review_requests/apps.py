from django.apps import AppConfig


class ReviewRequestsConfig(AppConfig):
    name = "review_requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from review_requests import receivers

        receivers.connect()
