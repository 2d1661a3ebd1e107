"""A company's money in words: statement lines and receipts name what happened and for which
request (linked), the CSV reads back as numbers in any spreadsheet, spend by month and by
specialization as charts with their tables, and the balance on every billing page."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from billing import services
from tests.conftest import login_client
from tests.factories import AssignmentFactory, CreditGrantFactory, ReviewRequestFactory

pytestmark = pytest.mark.django_db

MONTH = timezone.now().astimezone(UTC).strftime("%Y-%m")


@pytest.fixture
def charged(organization, expert):
    """ "Radiology report check" reviewed by Dr. Erin for 1 min 14 s at $235.00/h, then half of
    the charge refunded after a dispute; a second request whose hold was released."""
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    review_request = ReviewRequestFactory(organization=organization, in_review=True)
    assignment = AssignmentFactory(
        review_request=review_request, expert__user=expert, rate_cents=23_500
    )
    assignment.expert.display_name = "Dr. Erin"
    assignment.expert.save(update_fields=["display_name"])
    with transaction.atomic():
        earning = services.hold_capture(
            ref=assignment.hold_ref,
            expert_user=expert,
            assignment_id=assignment.pk,
            billed_seconds=74,
            rate_cents=23_500,
            fee_percent=Decimal(20),
        )
    services.earning_refund(
        ref=assignment.hold_ref,
        amount_cents=earning.company_cost_cents // 2,
        actor=None,
        reason="dispute 557c8183-0000-0000-0000-000000000000: partial refund",
    )
    released = AssignmentFactory(
        review_request=ReviewRequestFactory(organization=organization, in_review=True),
        expert__user=expert,
        rate_cents=23_500,
    )
    with transaction.atomic():
        services.hold_release(ref=released.hold_ref)
    return review_request, earning


def test_statement_lines_say_what_happened_for_which_request_with_a_link(company_member, charged):
    review_request, earning = charged
    page = login_client(company_member).get(f"/company/billing/statements/{MONTH}/")
    text = page.content.decode()
    words = "Review of “Radiology report check” by Dr. Erin"
    assert f"Held for {words} until the review is submitted" in text
    cost = f"${earning.company_cost_cents / 100:.2f}"
    assert f"{words}, 1 min 14 s at $235.00/h + fee: {cost}; the rest of the hold released" in text
    assert f"Partial refund after a dispute: {words}" in text
    assert "released: nothing charged" in text
    assert f'href="/company/requests/{review_request.pk}/"' in text
    # Raw references are not what the company reads.
    assert ":capture" not in text and "assignment:" not in text
    # The balance, held and available at the top.
    assert 'data-testid="balance"' in text and 'data-testid="available"' in text


def test_receipts_list_the_charge_and_the_refund_in_words(company_member, charged):
    review_request, _ = charged
    text = login_client(company_member).get("/company/billing/").content.decode()
    assert "Review of “Radiology report check” by Dr. Erin, 1 min 14 s at $235.00/h + fee" in text
    assert "Charged" in text
    assert "Partial refund after a dispute: Review of “Radiology report check”" in text
    assert "dispute 557c8183" not in text
    assert f'href="/company/requests/{review_request.pk}/"' in text


def test_statement_csv_reads_back_as_numbers_with_a_currency_and_guards_only_text(
    company_member, organization, charged
):
    # A request title that a spreadsheet would run as a formula.
    review_request, _ = charged
    review_request.title = '=HYPERLINK("http://evil")'
    review_request.save(update_fields=["title"])
    response = login_client(company_member).get(f"/company/billing/statements/{MONTH}.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["kind"] == "opening_balance" and rows[-1]["kind"] == "closing_balance"
    for row in rows:
        # Amounts are plain numbers (negative ones too): no apostrophe, no thousands comma.
        assert Decimal(row["available_usd"]) == Decimal(row["available_usd"]).quantize(
            Decimal("0.01")
        )
        Decimal(row["held_usd"])
        assert row["currency"] == "USD"
    holds = [row for row in rows if row["kind"] == "hold"]
    assert holds and all(Decimal(row["available_usd"]) < 0 for row in holds)
    assert all(not row["available_usd"].startswith("'") for row in rows)
    # Every description is text in words; none begins with a formula character unguarded.
    assert all(row["description"][:1] not in "=+-@" for row in rows)
    closing = Decimal(rows[-1]["available_usd"])
    from billing.selectors import company_balance

    assert closing == Decimal(company_balance(organization=organization).available_cents) / 100


def test_text_cells_are_guarded_and_numbers_are_not():
    from billing.views import _csv_cell, _dollars

    assert _csv_cell("=1+2") == "'=1+2"
    assert _csv_cell("+1") == "'+1"
    assert _csv_cell("-x") == "'-x"
    assert _csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert _csv_cell("Review of x") == "Review of x"
    assert _csv_cell(_dollars(-28_200)) == Decimal("-282.00")
    assert str(_dollars(5)) == "0.05"


def test_spend_by_month_and_by_specialization_as_charts_with_tables(company_member, charged):
    _, earning = charged
    text = login_client(company_member).get("/company/billing/").content.decode()
    net = earning.company_cost_cents - earning.company_cost_cents // 2
    month_table = text.split('data-testid="spend-by-month"')[1].split("</table>")[0]
    assert f">{MONTH}</a>" in month_table
    assert f"${net / 100:.2f}" in month_table
    spec_table = text.split('data-testid="spend-by-specialization"')[1].split("</table>")[0]
    assert "Radiology" in spec_table and f"${net / 100:.2f}" in spec_table
    assert text.count('role="img"') >= 2
    assert "Spend by specialization, last 12 months" in text


def test_spend_leaves_out_other_months_and_other_companies(
    company_member, other_company_member, charged
):
    from billing.spend import spend_by_month

    _, earning = charged
    organization = earning.organization
    rows = spend_by_month(organization=organization, months=["2020-01", MONTH])
    assert [row.label for row in rows] == ["2020-01", MONTH]
    assert rows[0].net_cents == 0 and rows[1].charged_cents == earning.company_cost_cents
    other = login_client(other_company_member).get("/company/billing/").content.decode()
    assert "Radiology report check" not in other


@pytest.mark.parametrize(
    "path",
    [
        "/company/billing/",
        f"/company/billing/statements/{MONTH}/",
        "/company/billing/receipt/?ref=x",
    ],
)
def test_every_company_billing_page_shows_balance_held_and_available(
    company_member, organization, path
):
    CreditGrantFactory(organization=organization, amount_cents=12_345)
    text = login_client(company_member).get(path).content.decode()
    assert 'data-testid="balance">$123.45<' in text
    assert 'data-testid="held">$0.00<' in text
    assert 'data-testid="available">$123.45<' in text


def test_a_statement_line_without_a_known_request_falls_back_to_its_label(
    company_member, organization
):
    from billing.words import LineDescriber

    describer = LineDescriber(organization=organization, txn_refs=["credit:1", "pi_123"])
    assert (
        describer.describe(ref="pi_123", reason="funding", fallback="Card top-up #4").text
        == "Card top-up #4"
    )
    assert (
        describer.describe(ref="assignment:nope:hold", reason="hold", fallback="Hold").text
        == "Held for A review until the review is submitted"
    )
