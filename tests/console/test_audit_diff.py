"""The audit log's before/after as named fields: what changed, money in dollars, ledger accounts
in words; and the page that shows it."""

from __future__ import annotations

import pytest

from inloop_site.console.audit_diff import DiffRow, account_label, audit_diff, owner_keys
from tests.conftest import give_operator_mfa, login_client

ORG = "org:9b1f0c6e-0000-4000-8000-000000000001"
NAMES = {ORG: "Acme AI", "user:5": "hugo@example.com"}


@pytest.mark.parametrize(
    ("before", "after", "ledger", "expected"),
    [
        pytest.param(None, None, False, [], id="nothing-recorded"),
        pytest.param(
            {"status": "open"},
            {"status": "open"},
            False,
            [],
            id="unchanged-field-hidden",
        ),
        pytest.param(
            {"status": "awaiting_approval", "summary": "Grant $5.00"},
            {"status": "executed", "outcome": "done"},
            False,
            [
                DiffRow("Status", "awaiting approval", "executed"),
                DiffRow("Summary", "Grant $5.00", None),
                DiffRow("Outcome", None, "done"),
            ],
            id="changed-before-only-and-after-only",
        ),
        pytest.param(
            {"dispute_approval_threshold_cents": 123456, "fee_percent": "10"},
            {"dispute_approval_threshold_cents": 50000, "fee_percent": "10"},
            False,
            [DiffRow("Dispute approval threshold", "$1,234.56", "$500.00", "-$734.56")],
            id="money-field-in-dollars-with-its-change",
        ),
        pytest.param(
            None,
            {"amount_cents": 2500, "reason": "goodwill", "totp": True, "prefixes": ["ab", "cd"]},
            False,
            [
                DiffRow("Amount", None, "$25.00"),
                DiffRow("Reason", None, "goodwill"),
                DiffRow("Authenticator app", None, "yes"),
                DiffRow("Prefixes", None, "ab, cd"),
            ],
            id="created-record-lists-its-fields",
        ),
        pytest.param(
            {"dispute_window_hours": None},
            {"dispute_window_hours": 48},
            False,
            [DiffRow("Dispute window hours", "—", "48")],
            id="none-is-a-dash",
        ),
        pytest.param(
            {f"company_available {ORG}": 10000, f"company_held {ORG}": 0},
            {f"company_available {ORG}": 7200, f"company_held {ORG}": 2800},
            True,
            [
                DiffRow("Acme AI available balance", "$100.00", "$72.00", "-$28.00"),
                DiffRow("Acme AI held balance", "$0.00", "$28.00", "+$28.00"),
            ],
            id="ledger-accounts-named-after-their-company",
        ),
        pytest.param(
            {"expert_pending user:6": 0, "platform_fees": 100, "company_held org:x": 5},
            {"expert_pending user:6": 900, "platform_fees": 200, "company_held org:x": 5},
            True,
            [
                DiffRow("expert pending earnings", "$0.00", "$9.00", "+$9.00"),
                DiffRow("Platform fees", "$1.00", "$2.00", "+$1.00"),
            ],
            id="ledger-owner-unknown-falls-back-to-its-role",
        ),
        pytest.param(
            {"platform_fees": 1},
            {"platform_fees": 2},
            False,
            [DiffRow("Platform fees", "1", "2")],
            id="outside-the-ledger-a-key-is-a-field-not-an-account",
        ),
        pytest.param(
            None,
            {"filters": {"actor": "oscar", "amount_cents": 100}},
            False,
            [DiffRow("Filters", None, "Actor: oscar; Amount: $1.00")],
            id="nested-dict-reads-as-fields",
        ),
    ],
)
def test_audit_diff(before, after, ledger, expected):
    assert audit_diff(before=before, after=after, ledger=ledger, account_names=NAMES) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (f"company_available {ORG}", "Acme AI available balance"),
        ("expert_paid_out user:5", "hugo@example.com paid out"),
        ("expert_available user:77", "expert available earnings"),
        ("platform_stripe_clearing", "Stripe clearing"),
        ("reason", None),
        ("not_a_kind org:1", None),
    ],
)
def test_account_label(key, expected):
    assert account_label(key, account_names=NAMES) == expected


def test_owner_keys_are_read_from_both_sides():
    assert owner_keys(
        before={f"company_held {ORG}": 1, "platform_fees": 0}, after={"expert_pending user:5": 1}
    ) == {ORG, "user:5"}


@pytest.mark.django_db
def test_audit_page_shows_named_fields_in_dollars_not_dicts(operator, organization, expert):
    from billing import ledger

    give_operator_mfa(operator)
    account = ledger.account(ledger.Kind.COMPANY_AVAILABLE, organization=organization)
    clearing = ledger.account(ledger.Kind.PLATFORM_STRIPE_CLEARING)
    ledger.post(
        ref="test:funding:1",
        reason="funding",
        organization=organization,
        lines=[ledger.Line(clearing, -123456), ledger.Line(account, 123456)],
    )
    from marketplace.services import audit_record

    long_reason = "x" * 300
    audit_record(
        actor=operator,
        action="user.suspended",
        object_type="user",
        object_id=expert.pk,
        before={"email": expert.email, "suspended": False},
        after={"email": expert.email, "suspended": True, "reason": long_reason},
    )
    page = login_client(operator).get("/console/audit/").content.decode()

    assert f"{organization.name} available balance:" in page
    assert "$1,234.56" in page and "+$1,234.56" in page
    assert "Stripe clearing:" in page
    assert "Suspended:" in page and "<del>no</del>" in page and "<ins>yes</ins>" in page
    assert long_reason in page
    # The unchanged email is not repeated as a change, and no raw dict or account key shows.
    assert "Email:</span>" not in page
    assert "{&#x27;" not in page and "company_available" not in page


@pytest.mark.django_db
def test_audit_page_says_when_a_recorded_change_changed_nothing(operator):
    from marketplace.services import audit_record

    give_operator_mfa(operator)
    audit_record(actor=operator, action="auth.login")
    client = login_client(operator)
    assert "No field changed" not in client.get("/console/audit/").content.decode()
    audit_record(
        actor=operator, action="test.same", before={"role": "admin"}, after={"role": "admin"}
    )
    assert "No field changed" in client.get("/console/audit/").content.decode()
