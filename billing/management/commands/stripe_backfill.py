"""Replay Stripe events we may have missed (webhook endpoint down) through the same handler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from billing import stripe_gateway
from billing.webhooks import stripe_events_backfill


def _since(value: str) -> datetime:
    """ "2026-03-01", "2026-03-01T12:00:00+00:00", or a duration like "48h" / "3d"."""
    if value[-1:] in {"h", "d"} and value[:-1].isdigit():
        hours = int(value[:-1]) * (24 if value.endswith("d") else 1)
        return datetime.now(UTC) - timedelta(hours=hours)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--since: not a date, time or duration: {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "List Stripe events since a time and handle any we have not stored yet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", required=True, help='ISO date/time (UTC if no offset) or "48h", "3d".'
        )

    def handle(self, *args, **options):
        if not stripe_gateway.stripe_configured():
            raise CommandError("Stripe is not configured (STRIPE_SECRET_KEY).")
        counts = stripe_events_backfill(since=_since(options["since"]))
        self.stdout.write(
            f"Backfill: {counts['listed']} events listed, {counts['stored']} new, "
            f"{counts['processed']} handled."
        )
