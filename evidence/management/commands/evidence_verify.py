"""manage.py evidence_verify [--organization ID]: recompute every evidence chain (and the daily
anchors); exit 1 naming the first broken entry."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from evidence.selectors import anchors_verify, chain_organization_ids, chain_verify


class Command(BaseCommand):
    help = "Recompute every evidence hash chain; exit 1 on the first broken entry."

    def add_arguments(self, parser):
        parser.add_argument("--organization", type=uuid.UUID, help="only this organization's id")

    def handle(self, *args, organization=None, **options):
        checked = 0
        for organization_id in chain_organization_ids(organization_id=organization):
            result = chain_verify(organization_id=organization_id)
            if not result.ok:
                raise CommandError(f"broken: {result.broken}")
            checked += 1
            self.stdout.write(
                f"organization {organization_id}: {result.entries} entries, head "
                f"#{result.head_position} {result.head_hash}: ok"
            )
        if organization is None:
            problem = anchors_verify()
            if problem is not None:
                raise CommandError(f"broken: {problem}")
        self.stdout.write(self.style.SUCCESS(f"{checked} chain(s) verified"))
