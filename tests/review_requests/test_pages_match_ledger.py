"""Every money figure on the expert's, the company's and the operator's pages is the ledger's:
after the capture, after a partial refund, and after the payout (issue 13: "My assignments"
showed the company's price, fee included, as the expert's pay, and kept the pre-refund figure;
the dispute case page kept the capture's split)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import ledger
from billing.models import Earning, LedgerAccount
from billing.payouts import payout_run
from billing.selectors import company_balance
from billing.services import earnings_mature_due
from marketplace.templatetags.inloop import format_cents
from review_requests import dispute_services
from tests.conftest import give_operator_mfa, login_client
from tests.console.dispute_support import (
    CAPTURED_CENTS,
    EXPERT_CENTS,
    FEE_CENTS,
    ready_dispute,
    submitted_assignment,
)

pytestmark = pytest.mark.django_db

Kind = LedgerAccount.Kind
FUNDS = 100_000
# Not a multiple of the fee's share: 1,235 x 3,000 / 3,600 = 1,029.17 -> the expert gives 1,029.
REFUND_CENTS = 1_235


def money(cents: int) -> str:
    return format_cents(cents, "usd")


def the_ledger(organization, expert) -> dict:
    """The figures as the ledger has them (one request, one expert, one earning)."""
    expert_cents = sum(
        ledger.balance(kind, user=expert)
        for kind in (Kind.EXPERT_PENDING, Kind.EXPERT_AVAILABLE, Kind.EXPERT_PAID_OUT)
    )
    return {
        "expert": expert_cents,
        "fee": ledger.balance(Kind.PLATFORM_FEES),
        "company": FUNDS - company_balance(organization=organization).available_cents,
    }


def cell(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return re.sub(r"\s+", " ", found.group(1)).strip()


def pages(client_of, assignment, dispute) -> dict:
    """What each page shows, read from its HTML."""
    expert, company, operator = client_of["expert"], client_of["company"], client_of["operator"]
    assignments = expert.get("/expert/assignments/").content.decode()
    earnings = expert.get("/expert/earnings/").content.decode()
    request_page = company.get(
        f"/company/requests/{assignment.review_request_id}/"
    ).content.decode()
    case = operator.get(f"/console/disputes/{dispute.pk}/").content.decode()
    return {
        # The last column of the only row: "Earned".
        "assignments_earned": cell(assignments, r'<td class="money"[^>]*>([^<]*)</td>\s*</tr>'),
        "earnings_latest": cell(earnings, r'Latest earnings.*?<td class="money">([^<]*)'),
        "earnings_week": cell(earnings, r"<td class=\"num\">1</td><td class=\"money\">([^<]*)"),
        "request_cost": cell(request_page, r'id="rr-cost">([^<]*)'),
        "request_assignment_cost": cell(request_page, r'data-field="cost"[^>]*>([^<]*)'),
        "expert_dispute_pay": cell(
            expert.get(f"/expert/disputes/{dispute.pk}/").content.decode(),
            r'id="dispute-pay">([^<]*)',
        ),
        "company_dispute_charged": cell(
            company.get(f"/company/disputes/{dispute.pk}/").content.decode(),
            r'id="dispute-charged">([^<]*)',
        ),
        "receipt_net": cell(
            company.get(f"/company/billing/receipt/?ref={assignment.hold_ref}").content.decode(),
            r'data-testid="net">([^<]*)',
        ),
        "case_split": cell(case, r"<dt>Expert earning</dt><dd>([^<·]*?)(?: after refunds)? ·"),
        "case_captured": cell(
            case, r'<dt>Captured, not yet refunded</dt><dd class="money">([^<]*)'
        ),
    }


def expected(figures: dict) -> dict:
    return {
        "assignments_earned": money(figures["expert"]),
        "earnings_latest": money(figures["expert"]),
        "earnings_week": money(figures["expert"]),
        "request_cost": money(figures["company"]),
        "request_assignment_cost": money(figures["company"]),
        "expert_dispute_pay": money(figures["expert"]),
        "company_dispute_charged": money(figures["company"]),
        "receipt_net": money(figures["company"]),
        "case_split": f"{money(figures['expert'])} + fee {money(figures['fee'])}",
        "case_captured": money(figures["company"]),
    }


@pytest.fixture
def client_of(expert, company_member, operator):
    give_operator_mfa(operator)
    return {
        "expert": login_client(expert),
        "company": login_client(company_member),
        "operator": login_client(operator),
    }


def test_every_page_shows_the_ledgers_figures_after_capture_refund_and_payout(
    organization, expert, company_member, operator, client_of, django_capture_on_commit_callbacks
):
    assignment = submitted_assignment(organization, expert, funds=FUNDS)
    dispute = ready_dispute(
        assignment,
        company_member,
        expert,
        requested_remedy="partial_refund",
        requested_amount_cents=REFUND_CENTS,
    )

    # After the capture: $30.00 to the expert, $6.00 fee, $36.00 charged.
    captured = the_ledger(organization, expert)
    assert captured == {"expert": EXPERT_CENTS, "fee": FEE_CENTS, "company": CAPTURED_CENTS}
    shown = pages(client_of, assignment, dispute)
    assert shown == expected(captured)
    assert shown["assignments_earned"] != money(CAPTURED_CENTS)  # not the company's price

    # After a partial refund of $12.35: the expert gives $10.29, the fee $2.06.
    with django_capture_on_commit_callbacks(execute=True):
        dispute_services.dispute_decide(
            dispute=dispute,
            operator=operator,
            outcome="partial_refund",
            amount_cents=REFUND_CENTS,
            note="Part of it was wrong.",
        )
    refunded = the_ledger(organization, expert)
    assert refunded == {
        "expert": EXPERT_CENTS - 1_029,
        "fee": FEE_CENTS - 206,
        "company": CAPTURED_CENTS - REFUND_CENTS,
    }
    assert pages(client_of, assignment, dispute) == expected(refunded)

    # After the payout (no Stripe here: the ledger moves, the payout waits for Stripe).
    Earning.objects.update(available_at=timezone.now() - timedelta(minutes=1))
    assert earnings_mature_due() == 1
    payout_run(minimum_cents=1)
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == EXPERT_CENTS - 1_029
    assert the_ledger(organization, expert) == refunded
    assert pages(client_of, assignment, dispute) == expected(refunded)
