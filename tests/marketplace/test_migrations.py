"""The models and their migrations agree: a model change without its migration fails here, not
on a deployment's `migrate`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db  # makemigrations checks the history it finds in the database
def test_every_model_change_has_its_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
        missing = ""
    except SystemExit:  # --check exits 1 when a migration is missing, naming what it would make
        missing = out.getvalue()
    assert missing == "", f"models and migrations differ:\n{missing}"
