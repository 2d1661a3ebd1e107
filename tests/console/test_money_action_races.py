"""Two operators at once on the same money (PostgreSQL: SQLite ignores row locks)."""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from billing import ledger, money_actions, payouts
from billing.models import LedgerAccount, MoneyAction, Payout, TransferReversal
from tests.billing.support import transfers_made
from tests.conftest import run_at_once
from tests.factories import (
    ConnectedAccountFactory,
    CreditGrantFactory,
    EarningFactory,
    PayoutFactory,
    UserFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
Kind = LedgerAccount.Kind
Action = MoneyAction.Kind


def each_once(values):
    """A thread-safe supply of one value per racing thread."""
    supply = itertools.cycle(values)
    lock = threading.Lock()

    def take():
        with lock:
            return next(supply)

    return take


def refusals_counted(work, outcomes):
    def run():
        try:
            work()
            outcomes.append("done")
        except ValidationError:
            outcomes.append("refused")

    return run


def test_two_operators_marking_one_payout_failed_at_once_return_the_money_once(
    settings, organization, expert, operator, other_operator
):
    settings.STRIPE_SECRET_KEY = ""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    payouts.payout_run()
    payout = Payout.objects.get()
    who = each_once([operator, other_operator])
    outcomes: list[str] = []

    def mark_failed():
        money_actions.money_action_propose(
            kind=Action.PAYOUT_MARK_FAILED,
            operator=who(),
            reason="race",
            request_token=uuid.uuid4(),
            payout=payout,
        )

    run_at_once(refusals_counted(mark_failed, outcomes), threads=2)

    assert sorted(outcomes) == ["done", "refused"]
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 0
    call_command("ledger_check")


def test_one_confirmation_posted_by_several_requests_at_once_acts_once(
    settings, organization, operator
):
    token = uuid.uuid4()

    def grant():
        money_actions.money_action_propose(
            kind=Action.CREDIT_GRANT,
            operator=operator,
            reason="race",
            request_token=token,
            organization=organization,
            amount_cents=5_000,
        )

    run_at_once(grant, threads=4)
    assert MoneyAction.objects.count() == 1
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 5_000


def test_two_approvers_at_once_execute_a_credit_once(
    settings, organization, operator, other_operator
):

    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000
    third = UserFactory(email="otto.operator@inloop.test", account_type="operator", is_staff=True)
    proposal = money_actions.money_action_propose(
        kind=Action.CREDIT_GRANT,
        operator=operator,
        reason="big",
        request_token=uuid.uuid4(),
        organization=organization,
        amount_cents=50_000,
    )
    who = each_once([other_operator, third])
    outcomes: list[str] = []

    def approve():
        money_actions.money_action_approve(action=proposal.action, operator=who())

    run_at_once(refusals_counted(approve, outcomes), threads=2)

    assert sorted(outcomes) == ["done", "refused"]
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 50_000
    assert MoneyAction.objects.get().status == MoneyAction.Status.EXECUTED


def test_two_operators_reversing_one_transfer_at_once_reverse_it_once(
    stripe_on, organization, expert, operator, other_operator
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payout_run()
    payout = Payout.objects.get()
    who = each_once([operator, other_operator])
    outcomes: list[str] = []

    def reverse():
        proposal = money_actions.money_action_propose(
            kind=Action.PAYOUT_REVERSE,
            operator=who(),
            reason="race",
            request_token=uuid.uuid4(),
            payout=payout,
        )
        money_actions.money_action_stripe_step(action=proposal.action)

    run_at_once(refusals_counted(reverse, outcomes), threads=2)

    assert sorted(outcomes) == ["done", "refused"]
    assert TransferReversal.objects.count() == 1
    assert stripe_on.calls().get("POST /v1/transfers/{id}/reversals") == 1
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    call_command("ledger_check")


def test_a_run_sending_while_an_operator_marks_the_payout_failed_pays_at_most_once(
    stripe_on, organization, expert, operator
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = PayoutFactory(user=expert)
    steps = each_once(["send", "fail"])

    def act():
        if steps() == "send":
            payouts.payouts_send()
            return
        with contextlib.suppress(ValidationError):
            money_actions.money_action_propose(
                kind=Action.PAYOUT_MARK_FAILED,
                operator=operator,
                reason="race",
                request_token=uuid.uuid4(),
                payout=payout,
            )

    run_at_once(act, threads=2)
    payouts.payout_run()  # whatever was given back is paid by the next run, once

    payout.refresh_from_db()
    assert transfers_made(stripe_on) == 1
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0
    call_command("ledger_check")
