"""Rebuild the matching cache (experts.models.MatchRow) from the normalized tables."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from experts.match_index import match_rows_rebuild_all


class Command(BaseCommand):
    help = "Rebuild every expert's match rows (after a bulk load, a restore or raw SQL edits)."

    def handle(self, *args, **options):
        with transaction.atomic():
            count = match_rows_rebuild_all()
        self.stdout.write(self.style.SUCCESS(f"Match rows rebuilt for {count} experts."))
