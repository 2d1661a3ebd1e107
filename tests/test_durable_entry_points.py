"""Service entry points open `transaction.atomic(durable=True)`: called inside someone else's
transaction by accident they refuse (Django's RuntimeError) and change nothing. And no service
decides what to do by looking at the connection's atomic blocks or a test flag."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from experts import services as expert_services
from marketplace import services
from marketplace.models import ApiKey, User

ROOT = Path(__file__).resolve().parents[1]
APPS = (
    "marketplace",
    "experts",
    "billing",
    "oversight",
    "review_requests",
    "evidence",
    "datasets",
    "inloop_site",
)


@pytest.mark.django_db
def test_entry_points_refuse_to_run_inside_another_transaction(
    organization, company_member, expert, operator
):
    profile = expert_services.expert_profile_ensure(user=expert)
    today = timezone.localdate()
    entry_points = {
        "api_key_create": lambda: services.api_key_create(
            organization=organization, name="pipeline", actor=company_member
        ),
        "user_suspend": lambda: services.user_suspend(user=expert, actor=operator, reason="x"),
        "time_off_add": lambda: expert_services.time_off_add(
            expert=profile, start_date=today, end_date=today + timedelta(days=2)
        ),
    }
    for name, call in entry_points.items():
        with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
            call()
            pytest.fail(f"{name} ran inside a transaction")
    assert not ApiKey.objects.exists()
    assert User.objects.get(pk=expert.pk).suspended_at is None
    assert not profile.time_off.exists()


@pytest.mark.django_db
def test_an_entry_point_runs_in_a_test_transaction(organization, company_member):
    # pytest-django's own transaction does not count: durable blocks nest in it.
    api_key, raw = services.api_key_create(
        organization=organization, name="pipeline", actor=company_member
    )
    assert raw.startswith(api_key.prefix)


def test_no_service_looks_at_the_connections_atomic_blocks():
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in (
                    "atomic_blocks",
                    "_from_testcase",
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.attr}")
                if isinstance(node, ast.Constant) and node.value == "_from_testcase":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: _from_testcase")
    assert found == []
