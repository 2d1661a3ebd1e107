"""The console dashboard: queue health, money by week from the ledger, disputes by age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services as billing_services
from inloop_site.console import selectors
from marketplace import charts
from review_requests.models import ReviewRequest
from tests.conftest import give_operator_mfa, login_client
from tests.factories import CreditGrantFactory, ReviewRequestFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([5], 95, 5),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 95, 4),
        (list(range(1, 101)), 95, 95),
    ],
)
def test_percentile_is_nearest_rank(values, pct, expected):
    assert selectors.percentile(values, pct) == expected


def test_queue_health_counts_and_time_to_first_accept(organization):
    now = timezone.now()
    ReviewRequestFactory(organization=organization)
    ReviewRequestFactory(organization=organization, waiting_for_funds=True)
    for minutes in (10, 30):
        ReviewRequestFactory(
            organization=organization,
            status=ReviewRequest.Status.IN_REVIEW,
            created_at=now - timedelta(hours=2),
            first_accepted_at=now - timedelta(hours=2) + timedelta(minutes=minutes),
        )
    # Deadline in 30 min with up to 1 h of work left: at risk. Deadline in 3 days: fine.
    ReviewRequestFactory(organization=organization, deadline=now + timedelta(minutes=30))
    ReviewRequestFactory(organization=organization, deadline=now + timedelta(days=3))
    health = selectors.queue_health(now=now)
    assert health.queued == 4
    assert health.in_review == 2
    assert health.waiting_for_funds == 1
    assert health.at_risk == 1
    assert health.first_accept_sample == 2
    assert health.first_accept_p50_seconds == 600
    assert health.first_accept_p95_seconds == 1800


def test_money_by_week_reads_funding_capture_fees_and_refunds_from_the_ledger(organization, expert):
    from django.db import transaction

    CreditGrantFactory(organization=organization, amount_cents=100_000)
    with transaction.atomic():
        billing_services.hold_place(organization=organization, ref="a:1", amount_cents=12_000)
        billing_services.hold_capture(
            ref="a:1",
            expert_user=expert,
            assignment_id="00000000-0000-0000-0000-000000000001",
            billed_seconds=1800,
            rate_cents=10_000,
        )
    weeks = selectors.money_by_week(now=timezone.now())
    assert len(weeks) == 8
    this_week = weeks[-1]
    assert this_week.funding == 100_000
    assert this_week.captured == 6_000  # 5,000 expert + 1,000 fee (20 %)
    assert this_week.fees == 1_000
    assert this_week.payouts == 0
    assert this_week.refunds == 0
    assert sum(w.funding for w in weeks[:-1]) == 0


def test_dashboard_shows_charts_with_their_tables(operator, organization):
    give_operator_mfa(operator)
    CreditGrantFactory(organization=organization, amount_cents=123_400)
    ReviewRequestFactory(organization=organization)
    response = login_client(operator).get("/console/")
    content = response.content.decode()
    assert response.status_code == 200
    assert content.count("<svg") >= 3
    assert 'role="img"' in content
    assert "$1,234.00" in content  # the funding column of the money table
    assert "Open disputes by age" in content
    assert "Time to first accept" in content


def test_bar_chart_escapes_labels_and_scales_to_a_round_maximum():
    svg = charts.column_chart(title="T <x>", labels=["<b>"], series=[charts.Series("S", [730])])
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert ">1,000<" in svg  # 730 rounds up to a 1,000 axis


@pytest.mark.parametrize(
    ("counts", "labels"),
    [
        ([1, 0], ["0", "1"]),
        ([2, 1], ["0", "1", "2"]),
        ([4, 0], ["0", "1", "2", "3", "4", "5"]),
        ([7], ["0", "2", "4", "6", "8", "10"]),
    ],
)
def test_a_chart_of_counts_labels_its_axis_with_whole_numbers_only(counts, labels):
    import re

    svg = charts.column_chart(
        title="Counts",
        labels=[str(i) for i in range(len(counts))],
        series=[charts.Series("n", counts)],
    )
    axis = re.findall(r'text-anchor="end">([^<]*)<', svg)
    assert axis == labels


def test_a_money_axis_keeps_four_steps():
    import re

    svg = charts.column_chart(
        title="Money",
        labels=["w"],
        series=[charts.Series("cents", [730_000])],
        format_axis=charts.money_axis,
    )
    assert re.findall(r'text-anchor="end">([^<]*)<', svg) == [
        "$0", "$2,500", "$5,000", "$7,500", "$10,000"
    ]  # fmt: skip
