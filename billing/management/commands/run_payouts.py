"""Run a payout now: the same work as the weekly task (safe to run again after a crash)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from billing.models import Payout
from billing.payouts import payout_run
from billing.services import earnings_mature_due


class Command(BaseCommand):
    help = "Make matured earnings available, then create and send payouts (never pays twice)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--minimum-cents", type=int, default=None, help="Override PAYOUT_MINIMUM_CENTS."
        )

    def handle(self, *args, **options):
        matured = earnings_mature_due()
        run = payout_run(minimum_cents=options["minimum_cents"])
        counts = {
            status: Payout.objects.filter(run=run, status=status).count()
            for status in Payout.Status.values
        }
        self.stdout.write(
            f"Payout run {run.pk}: {matured} earnings matured, {run.payouts_created} payouts "
            f"created, {run.stripe_calls} Stripe calls; this run's payouts by status: "
            + ", ".join(f"{status}={count}" for status, count in counts.items() if count)
        )
