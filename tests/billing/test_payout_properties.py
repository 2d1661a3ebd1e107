"""A stateful property over payouts: whatever happens, in any order (runs, crashes after a
Stripe call, retries, operators' money actions with or without a second operator, Stripe's
transfer events, late, repeated or replayed), Stripe never holds more of an expert's money than
the ledger says was paid out, the ledger never says more was paid out than the expert earned,
and `ledger_check` passes after every step.

What Stripe moved is read back from the local Stripe server: the sum of the expert's transfers
that did not fail, minus what was reversed from them. A crash is a step that stops half way,
between the Stripe call and the commit of its outcome (the steps are called one by one, the
way a process that died would have left them). Each example runs inside a savepoint that is
rolled back at its end, against a reset local Stripe.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billing import ledger, money_actions, payouts, services, stripe_gateway, webhooks
from billing.models import ConnectedAccount, Earning, LedgerAccount, MoneyAction, Payout
from marketplace.models import User
from marketplace.services import platform_settings_update
from tests.billing.support import event_payload, use_localstripe
from tests.factories import CreditGrantFactory, EarningFactory, UserFactory

Kind = LedgerAccount.Kind
Action = MoneyAction.Kind
LATER = timedelta(days=2)  # past the in-flight window and the idempotency-key age
PICK = st.integers(min_value=0, max_value=7)
WAITING = [Payout.Status.PENDING, Payout.Status.AWAITING_STRIPE]
MOVED = [Payout.Status.SENT, Payout.Status.PAID]
names = itertools.count()

# Stripe answers our own mistakes (a reversal of more than is left, a transfer to an account
# that cannot take one) with errors; an operator's refused action is a ValidationError.
EXPECTED = (ValidationError, PermissionDenied, stripe.StripeError)


class PayoutMachine(RuleBasedStateMachine):
    localstripe = None  # set by the test

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.localstripe.reset()
        n = next(names)
        self.organization_owner = UserFactory(
            email=f"owner{n}@prop.test", account_type=User.AccountType.COMPANY
        )
        from marketplace import services as core

        self.organization = core.organization_create(owner=self.organization_owner, name=f"P{n}")
        CreditGrantFactory(organization=self.organization, amount_cents=10_000_000)
        self.expert = UserFactory(
            email=f"expert{n}@prop.test", account_type=User.AccountType.EXPERT
        )
        self.operators = [
            UserFactory(email=f"op{n}a@prop.test", account_type=User.AccountType.OPERATOR),
            UserFactory(email=f"op{n}b@prop.test", account_type=User.AccountType.OPERATOR),
        ]
        connected = services.connected_account_ensure(user=self.expert)
        self.localstripe.enable_payouts(connected.stripe_account_id)
        services.connected_account_sync(user=self.expert)
        self.destination = connected.stripe_account_id
        self.earned = 0
        self.events: list[dict] = []
        self.earn(6000)
        payouts.payouts_create(run=payouts.PayoutRun.objects.create())

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # Picking things ------------------------------------------------------------------------------

    def payout(self, index: int, statuses=None) -> Payout | None:
        found = Payout.objects.filter(user=self.expert).order_by("pk")
        if statuses is not None:
            found = found.filter(status__in=statuses)
        found = list(found)
        return found[index % len(found)] if found else None

    def has(self, *statuses) -> bool:
        return Payout.objects.filter(user=self.expert, status__in=statuses).exists()

    def transfer(self, index: int):
        found = stripe_gateway.transfers_for_destination(self.destination)
        return found[index % len(found)] if found else None

    def deliver(self, event: dict) -> None:
        stored, _created = webhooks.stripe_event_store(event=event)
        webhooks.stripe_event_process(event_id=stored.id)
        self.events.append(event)

    # Steps ---------------------------------------------------------------------------------------

    @initialize(second_operator=st.booleans())
    def approval_limit(self, second_operator):
        # Either every operator action waits for a second operator, or none does.
        platform_settings_update(
            actor=self.operators[0],
            fee_percent=None,
            dispute_window_hours=None,
            dispute_approval_threshold_cents=0 if second_operator else 10**9,
        )

    @rule(cents=st.integers(min_value=2000, max_value=9000))
    def earn(self, cents):
        EarningFactory(
            organization=self.organization,
            user=self.expert,
            billed_seconds=3600,
            rate_cents=cents,
            max_hours=Decimal(1),
        )
        Earning.objects.filter(user=self.expert).update(
            available_at=timezone.now() - timedelta(hours=1)
        )
        services.earnings_mature_due()
        self.earned += cents

    @rule()
    def run(self):
        payouts.payout_run()

    @rule()
    def run_that_dies_before_sending(self):
        payouts.payouts_create(run=payouts.PayoutRun.objects.create())

    @precondition(lambda self: self.has(*WAITING))
    @rule(index=PICK, call_stripe=st.booleans())
    def run_that_dies_after_the_claim_or_the_call(self, index, call_stripe):
        payout = self.payout(index, WAITING)
        if payout is None or not payouts.payout_transfer_claim(payout=payout):
            return
        if call_stripe:
            with contextlib.suppress(stripe.StripeError):
                payouts.payout_transfer_call(payout=payout, destination=self.destination)

    @rule()
    def stripe_refuses_the_next_transfer(self):
        self.localstripe.fail_next_transfers(1)
        try:
            payouts.payouts_send()
        finally:
            self.localstripe.fail_next_transfers(0)

    @rule(enabled=st.booleans())
    def account_payouts_switched(self, enabled):
        if enabled:
            self.localstripe.enable_payouts(self.destination)
        else:
            self.localstripe.disable_payouts(self.destination)
        services.connected_account_sync(user=self.expert)

    @rule(later=st.booleans())
    def reconcile(self, later):
        payouts.payouts_reconcile(now=timezone.now() + (LATER if later else timedelta(0)))

    def operator_action(self, kind, statuses, index, later, approve, stripe_step, twice):
        payout = self.payout(index, statuses)
        now = timezone.now() + (LATER if later else timedelta(0))
        token = uuid.uuid4()
        with contextlib.suppress(*EXPECTED):
            for _ in range(2 if twice else 1):  # a double click / a reload of the POST
                action = money_actions.money_action_propose(
                    kind=kind,
                    operator=self.operators[0],
                    reason="property",
                    request_token=token,
                    payout=payout,
                    now=now,
                ).action
            if action.status == MoneyAction.Status.AWAITING_APPROVAL:
                if not approve:
                    money_actions.money_action_reject(
                        action=action, operator=self.operators[1], note="no"
                    )
                    return
                for _ in range(2 if twice else 1):
                    with contextlib.suppress(ValidationError):
                        action = money_actions.money_action_approve(
                            action=action, operator=self.operators[1], now=now
                        )
            if stripe_step:  # else: the process died after the commit, before Stripe
                money_actions.money_action_stripe_step(action=action)

    ACTION_ARGS = {
        "index": PICK,
        "later": st.booleans(),
        "approve": st.booleans(),
        "stripe_step": st.booleans(),
        "twice": st.booleans(),
    }

    # Each action is also tried where the console would refuse it (`anywhere`): refused, it must
    # change nothing.
    @precondition(lambda self: self.has(*WAITING))
    @rule(anywhere=st.booleans(), **ACTION_ARGS)
    def operator_marks_failed(self, anywhere, **args):
        self.operator_action(Action.PAYOUT_MARK_FAILED, None if anywhere else WAITING, **args)

    @precondition(lambda self: self.has(Payout.Status.FAILED, Payout.Status.AWAITING_STRIPE))
    @rule(anywhere=st.booleans(), **ACTION_ARGS)
    def operator_retries(self, anywhere, **args):
        statuses = None if anywhere else [Payout.Status.FAILED, Payout.Status.AWAITING_STRIPE]
        self.operator_action(Action.PAYOUT_RETRY, statuses, **args)

    @precondition(lambda self: self.has(*MOVED))
    @rule(anywhere=st.booleans(), **ACTION_ARGS)
    def operator_reverses(self, anywhere, **args):
        self.operator_action(Action.PAYOUT_REVERSE, None if anywhere else MOVED, **args)

    @rule()
    def reversal_dies_after_the_stripe_call(self):
        from billing.models import TransferReversal

        reversal = (
            TransferReversal.objects.filter(payout__user=self.expert, status="pending")
            .select_related("payout")
            .first()
        )
        if reversal is None or not reversal.payout.stripe_transfer_id:
            return
        with contextlib.suppress(stripe.StripeError):
            stripe_gateway.transfer_reversal_create(
                transfer_id=reversal.payout.stripe_transfer_id,
                amount_cents=reversal.amount_cents,
                reversal_id=reversal.pk,
                idempotency_key=reversal.idempotency_key,
            )

    @precondition(lambda self: self.has(*MOVED))
    @rule(index=PICK, share=st.sampled_from([1, 2, 3]))
    def reversed_in_the_dashboard(self, index, share):
        transfer = self.transfer(index)
        if transfer is None:
            return
        left = transfer.amount - transfer.amount_reversed
        with contextlib.suppress(stripe.StripeError):
            stripe_gateway.client().v1.transfers.reversals.create(
                transfer.id, params={"amount": max(left // share, 1)}
            )

    @precondition(lambda self: self.has(*MOVED))
    @rule(index=PICK)
    def transfer_fails_at_stripe(self, index):
        transfer = self.transfer(index)
        if transfer is None:
            return
        with contextlib.suppress(RuntimeError):  # refused once something was reversed
            failed = self.localstripe.fail_transfer(transfer.id)
            self.deliver(event_payload("transfer.failed", failed))

    @rule(
        index=PICK,
        event_type=st.sampled_from(["transfer.created", "transfer.reversed", "again", "old"]),
    )
    def stripe_sends_an_event(self, index, event_type):
        if event_type in ("again", "old"):
            # The same event id (a replay), or an old snapshot of a transfer in a new event.
            if not self.events:
                return
            event = dict(self.events[index % len(self.events)])
            if event_type == "old":
                event["id"] = f"evt_{uuid.uuid4().hex[:24]}"
            self.deliver(event)
            return
        transfer = self.transfer(index)
        if transfer is not None:
            self.deliver(event_payload(event_type, transfer.to_dict()))

    # What must always hold -------------------------------------------------------------------------

    @invariant()
    def stripe_never_moved_more_than_was_earned(self):
        failed = self.localstripe.failed_transfers()
        moved = sum(
            transfer.amount - transfer.amount_reversed
            for transfer in stripe_gateway.transfers_for_destination(self.destination)
            if transfer.id not in failed
        )
        paid_out = ledger.balance(Kind.EXPERT_PAID_OUT, user=self.expert)
        available = ledger.balance(Kind.EXPERT_AVAILABLE, user=self.expert)
        assert moved <= paid_out <= self.earned
        assert paid_out + available == self.earned

    @invariant()
    def ledger_check_passes(self):
        call_command("ledger_check", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.postgres
@pytest.mark.django_db
def test_no_interleaving_transfers_more_than_the_expert_earned(settings_fixture, localstripe):
    localstripe.reset()
    use_localstripe(settings_fixture, localstripe)
    PayoutMachine.localstripe = localstripe
    run_state_machine_as_test(
        PayoutMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert ConnectedAccount.objects.count() == 0  # every example rolled back


@pytest.fixture
def settings_fixture(settings):
    return settings
