from django.apps import AppConfig


class ReviewRequestsConfig(AppConfig):
    name = "review_requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.words import subject_lookup_register
        from review_requests import receivers
        from review_requests.billing_subjects import hold_subjects

        receivers.connect()
        subject_lookup_register(hold_subjects)
