"""Supply for the operator console: experts who could be offered a request now, by field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from experts.models import Specialization
from experts.selectors import experts_available_by_top_level
from tests.conftest import give_operator_mfa, login_client
from tests.factories import CredentialFactory, ExpertProfileFactory, TimeOffFactory

pytestmark = pytest.mark.django_db

MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MONDAY_9_TO_17 = [(0, 540, 1020)]


def counts(now=MONDAY_NOON) -> dict[str, int]:
    return dict(experts_available_by_top_level(now=now))


def test_every_top_level_field_is_listed_in_order_with_zeros():
    fields = list(
        Specialization.objects.filter(parent__isnull=True)
        .order_by("slug")
        .values_list("name", flat=True)
    )
    assert experts_available_by_top_level(now=MONDAY_NOON) == [(name, 0) for name in fields]


def test_only_experts_who_could_take_a_request_now_count():
    def software(**kwargs):
        return ExpertProfileFactory(specializations=["software.python"], **kwargs)

    software(windows=MONDAY_9_TO_17)
    software(timezone="Asia/Tokyo", windows=MONDAY_9_TO_17)  # 21:00 there: off
    software(always_available=True, max_concurrent=2, current_load=1)
    software(always_available=True, max_concurrent=2, current_load=2)  # at the cap
    software(always_available=True, accepting_work=False)
    suspended = software(always_available=True)
    type(suspended.user).objects.filter(pk=suspended.user_id).update(suspended_at=timezone.now())
    away = software(always_available=True)
    TimeOffFactory(expert=away, start_date=date(2026, 3, 2))
    # Two leaves of one field count once; a second field counts in both.
    ExpertProfileFactory(
        specializations=["software.python", "software.ml", "finance.tax"], windows=MONDAY_9_TO_17
    )
    assert counts()["Software engineering"] == 3
    assert counts()["Finance"] == 1
    assert counts(now=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))["Software engineering"] == 1


def test_fields_that_need_credentials_count_only_verified_unexpired_ones():
    ExpertProfileFactory(
        specializations=["medicine.radiology"], credentials=["medicine"], always_available=True
    )
    ExpertProfileFactory(specializations=["medicine.radiology"], always_available=True)
    expired = ExpertProfileFactory(specializations=["medicine.radiology"], always_available=True)
    CredentialFactory(expert=expired, expires_on=date(2026, 3, 1))
    assert counts()["Medicine"] == 1


def test_one_query_whatever_the_number_of_experts(django_assert_num_queries):
    for _ in range(5):
        ExpertProfileFactory(specializations=["software.python"], always_available=True)
    with django_assert_num_queries(1):
        experts_available_by_top_level(now=MONDAY_NOON)


def test_the_console_supply_panel_shows_real_figures(operator):
    give_operator_mfa(operator)
    ExpertProfileFactory(
        specializations=["law.contracts"], credentials=["law"], always_available=True
    )
    ExpertProfileFactory(specializations=["software.python"], always_available=True)
    ExpertProfileFactory(specializations=["software.ml"], always_available=True)
    content = login_client(operator).get("/console/").content.decode()
    assert "Experts available now by field" in content
    assert '<th scope="row">Software engineering</th><td class="num">2</td>' in content
    assert '<th scope="row">Law</th><td class="num">1</td>' in content
    assert '<th scope="row">Medicine</th><td class="num">0</td>' in content
    assert "No expert is available right now" not in content


def test_the_console_says_so_when_nobody_is_available(operator):
    give_operator_mfa(operator)
    ExpertProfileFactory(specializations=["software.python"], accepting_work=False)
    content = login_client(operator).get("/console/").content.decode()
    assert "No expert is available right now" in content
