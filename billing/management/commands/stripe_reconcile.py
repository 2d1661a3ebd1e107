"""Finish what a crash left half-done between our database and Stripe."""

from __future__ import annotations

from datetime import timedelta

import stripe
from django.core.management.base import BaseCommand
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Funding
from billing.payouts import payouts_reconcile
from billing.services import funding_create_intent


class Command(BaseCommand):
    help = (
        "Complete top-ups without a PaymentIntent (same idempotency key), payouts pending or "
        "sent without confirmation, and transfer reversals still pending."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-seconds",
            type=int,
            default=60,
            help="Only rows at least this old (a request may still be running).",
        )

    def handle(self, *args, **options):
        if not stripe_gateway.stripe_configured():
            self.stdout.write("Stripe is not configured: nothing to reconcile.")
            return
        cutoff = timezone.now() - timedelta(seconds=options["older_than_seconds"])
        fundings = 0
        for funding in Funding.objects.filter(
            stripe_payment_intent_id__isnull=True,
            status=Funding.Status.CREATED,
            created_at__lte=cutoff,
        ):
            try:
                funding_create_intent(funding=funding)
                fundings += 1
            except stripe.StripeError as error:
                self.stderr.write(f"funding {funding.pk}: {error}")
        counts = payouts_reconcile()
        self.stdout.write(
            f"Reconciled: {fundings} top-ups given their PaymentIntent, "
            + ", ".join(f"{key}={value}" for key, value in counts.items())
        )
