"""Concurrent creates never pass the organization's limit of exports queued or running: the
count is taken under the organization's row lock (PostgreSQL; SQLite ignores row locks)."""

from __future__ import annotations

import pytest

from datasets import services
from datasets.models import Export
from datasets.schemas import ExportFiltersIn
from marketplace.models import Organization
from tests.conftest import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_concurrent_creates_make_exactly_the_limit(organization, settings):
    settings.EXPORTS_MAX_ACTIVE = 3
    # Nothing runs the exports meanwhile (the immediate backend would finish each one at
    # commit and free its slot).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    outcomes: list[str] = []

    def create() -> None:
        org = Organization.objects.get(pk=organization.pk)
        try:
            services.export_create(organization=org, format="dpo", filters=ExportFiltersIn())
            outcomes.append("created")
        except services.ExportRefused as exc:
            outcomes.append(exc.code)

    run_at_once(create, threads=8)
    assert sorted(outcomes) == ["created"] * 3 + ["too_many_exports"] * 5
    assert Export.objects.filter(organization=organization).count() == 3
