"""Property-based test of the money flows: a hypothesis state machine over top-ups (signed
webhooks, duplicated and reordered), holds, captures, releases, the dispute window, refunds,
payouts through LocalStripe and transfer reversals, checking the ledger's invariants after
every step."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from billing import ledger, payouts, services, stripe_gateway
from billing.models import (
    Earning,
    Funding,
    LedgerAccount,
    LedgerEntry,
    Payout,
    StripeEvent,
    TransferReversal,
)
from billing.webhooks import stripe_event_process
from marketplace import services as core_services
from tests.billing.support import event_payload, post_event, use_localstripe
from tests.factories import FundingFactory, UserFactory

Kind = LedgerAccount.Kind


def snapshot() -> dict:
    return {
        "balances": dict(LedgerAccount.objects.values_list("pk", "balance_cents")),
        "entries": LedgerEntry.objects.count(),
        "payouts": list(Payout.objects.order_by("pk").values_list("status", "reversed_cents")),
        "fundings": list(Funding.objects.order_by("pk").values_list("status", flat=True)),
    }


class MoneyMachine(RuleBasedStateMachine):
    client = None
    localstripe = None

    holds = Bundle("holds")
    earnings = Bundle("earnings")

    @initialize()
    def setup(self):
        suffix = uuid.uuid4().hex[:8]
        owner = UserFactory(email=f"owner-{suffix}@acme.test", account_type="company")
        self.organization = core_services.organization_create(owner=owner, name=f"Acme {suffix}")
        self.expert = UserFactory(email=f"expert-{suffix}@inloop.test", account_type="expert")
        connected = services.connected_account_ensure(user=self.expert)
        self.localstripe.enable_payouts(connected.stripe_account_id)
        services.connected_account_sync(user=self.expert)
        self.undelivered: list[dict] = []  # events Stripe has sent but we have not received
        self.delivered: list[dict] = []

    # Top-ups: the PaymentIntent succeeds; its event waits to be delivered (maybe twice).
    @rule(dollars=st.integers(min_value=10, max_value=400), copies=st.integers(1, 2))
    def top_up(self, dollars, copies):
        funding = FundingFactory(organization=self.organization, amount_cents=dollars * 100)
        intent = {
            "id": f"pi_sm_{uuid.uuid4().hex[:16]}",
            "object": "payment_intent",
            "amount": funding.amount_cents,
            "amount_received": funding.amount_cents,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"funding_id": str(funding.pk)},
        }
        for _ in range(copies):  # Stripe may send two events for one payment
            self.undelivered.append(event_payload("payment_intent.succeeded", intent))

    # Indexes are drawn independently of the state (then taken modulo the list's length) so
    # hypothesis sees the same draws whatever happened before.
    @rule(pick=st.integers(0, 1000))
    def deliver_one(self, pick):
        """Events arrive in any order: deliver a random undelivered one."""
        if not self.undelivered:
            return
        event = self.undelivered.pop(pick % len(self.undelivered))
        self._receive(event)
        self.delivered.append(event)

    @rule(pick=st.integers(0, 1000))
    def replay(self, pick):
        """Replaying any event already delivered changes nothing."""
        if not self.delivered:
            return
        event = self.delivered[pick % len(self.delivered)]
        before = snapshot()
        self._receive(event)
        assert snapshot() == before

    def _receive(self, event):
        assert post_event(self.client, event).status_code == 200
        # What the on_commit task does after the response.
        stripe_event_process(event_id=event["id"])

    @rule(
        target=holds,
        hours=st.sampled_from(["0.25", "1", "2"]),
        rate=st.sampled_from([3000, 6000, 12345]),
    )
    def hold(self, hours, rate):
        from decimal import Decimal

        amount = services.hold_amount_for(
            max_hours=Decimal(hours), rate_cents=rate, fee_percent=Decimal(20)
        )
        ref = f"sm:{uuid.uuid4()}"
        before = ledger.balance(Kind.COMPANY_AVAILABLE, organization=self.organization)
        try:
            with transaction.atomic():
                services.hold_place(organization=self.organization, ref=ref, amount_cents=amount)
        except services.InsufficientFunds:
            assert before < amount
            return (None, rate, hours)
        return (ref, rate, hours)

    @rule(
        target=holds,
        hours=st.sampled_from(["0.25", "1"]),
        rate=st.sampled_from([3000, 6000]),
        spare=st.booleans(),
    )
    def rework_hold(self, hours, rate, spare):
        """A dispute's rework paid by the platform: a grant, then the accept's hold spends it
        (with `spare`, a second accept for the same scope finds it spent and the company pays)."""
        from decimal import Decimal

        amount = services.hold_amount_for(
            max_hours=Decimal(hours), rate_cents=rate, fee_percent=Decimal(20)
        )
        scope = f"review_request:{uuid.uuid4()}"
        company_before = ledger.balance(Kind.COMPANY_AVAILABLE, organization=self.organization)
        with transaction.atomic():
            services.platform_hold_grant_create(
                organization=self.organization,
                scope=scope,
                source_ref=f"dispute:{uuid.uuid4()}:rework",
                reason="sm rework",
            )
            ref = f"sm:{uuid.uuid4()}"
            hold = services.hold_place(
                organization=self.organization, ref=ref, amount_cents=amount, scope=scope
            )
        assert hold.payer == "platform"
        assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=self.organization) == (
            company_before
        )
        if spare:
            try:
                with transaction.atomic():
                    second = services.hold_place(
                        organization=self.organization,
                        ref=f"sm:{uuid.uuid4()}",
                        amount_cents=amount,
                        scope=scope,
                    )
                assert second.payer == "company"
            except services.InsufficientFunds:
                pass
        return (ref, rate, hours)

    @rule(target=earnings, hold=consumes(holds), fraction=st.floats(0, 1.2))
    def capture(self, hold, fraction):
        ref, rate, hours = hold
        if ref is None:
            return None
        seconds = int(float(hours) * 3600 * min(fraction, 1.0))
        with transaction.atomic():
            earning = services.hold_capture(
                ref=ref,
                expert_user=self.expert,
                assignment_id=uuid.uuid4(),
                billed_seconds=seconds,
                rate_cents=rate,
                fee_percent=20,
            )
        return earning.ref

    @rule(hold=consumes(holds))
    def release(self, hold):
        if hold[0] is not None:
            with transaction.atomic():
                services.hold_release(ref=hold[0])

    @rule()
    def dispute_window_passes(self):
        Earning.objects.filter(user=self.expert, status=Earning.Status.PENDING).update(
            available_at=timezone.now() - timedelta(seconds=1)
        )
        services.earnings_mature_due()

    @rule(ref=earnings, fraction=st.floats(0.01, 1.0))
    def refund(self, ref, fraction):
        if ref is None:
            return
        earning = Earning.objects.get(ref=ref)
        left = earning.amount_cents + earning.fee_cents - earning.refunded_cents
        amount = max(int(left * fraction), 1)
        if left <= 0:
            return
        outcome = services.earning_refund(ref=ref, amount_cents=amount, actor=None, reason="sm")
        assert outcome.refunded_cents == amount
        if outcome.reversal_status == "succeeded":
            reversal = TransferReversal.objects.get(refund_id=outcome.refund_id)
            transfer = stripe_gateway.transfer_retrieve(reversal.payout.stripe_transfer_id)
            self.undelivered.append(event_payload("transfer.reversed", transfer.to_dict()))

    @rule(refuse=st.booleans())
    def payout_run(self, refuse):
        if refuse:
            self.localstripe.fail_next_transfers(1)
        before = set(Payout.objects.values_list("pk", flat=True))
        payouts.payout_run(minimum_cents=1)
        self.localstripe.fail_next_transfers(0)
        for payout in Payout.objects.exclude(pk__in=before).exclude(stripe_transfer_id=""):
            transfer = stripe_gateway.transfer_retrieve(payout.stripe_transfer_id)
            self.undelivered.append(event_payload("transfer.created", transfer.to_dict()))

    # Invariants ---------------------------------------------------------------------------

    @invariant()
    def every_transaction_sums_to_zero(self):
        assert not (
            LedgerEntry.objects.values("transaction_id")
            .annotate(total=Sum("amount_cents"))
            .exclude(total=0)
            .exists()
        )

    @invariant()
    def balances_equal_the_sum_of_entries(self):
        sums = dict(
            LedgerEntry.objects.values("account_id")
            .annotate(total=Sum("amount_cents"))
            .values_list("account_id", "total")
        )
        for pk, cached in LedgerAccount.objects.values_list("pk", "balance_cents"):
            assert cached == sums.get(pk, 0)

    @invariant()
    def held_balances_equal_the_open_holds(self):
        from billing.models import Hold, PlatformHoldGrant

        for payer, kind in (("company", Kind.COMPANY_HELD), ("platform", Kind.PLATFORM_HELD)):
            open_holds = (
                Hold.objects.filter(payer=payer, status=Hold.Status.HELD).aggregate(
                    total=Sum("amount_cents")
                )["total"]
                or 0
            )
            held = (
                LedgerAccount.objects.filter(kind=kind).aggregate(total=Sum("balance_cents"))[
                    "total"
                ]
                or 0
            )
            assert held == open_holds
        for grant in PlatformHoldGrant.objects.prefetch_related("holds"):
            statuses = sorted(hold.status for hold in grant.holds.all())
            if grant.status == PlatformHoldGrant.Status.HELD:
                assert statuses.count(Hold.Status.HELD) == 1
            elif grant.status == PlatformHoldGrant.Status.USED:
                assert statuses.count(Hold.Status.CAPTURED) == 1
            else:
                assert Hold.Status.HELD not in statuses and Hold.Status.CAPTURED not in statuses

    @invariant()
    def company_available_never_negative(self):
        assert not LedgerAccount.objects.filter(
            kind=Kind.COMPANY_AVAILABLE, balance_cents__lt=0
        ).exists()

    @invariant()
    def refunds_never_exceed_captures(self):
        for earning in Earning.objects.all():
            assert earning.refunded_cents <= earning.amount_cents + earning.fee_cents

    @invariant()
    def reversals_never_exceed_transfers(self):
        for payout in Payout.objects.prefetch_related("reversals"):
            reversed_total = sum(
                r.amount_cents
                for r in payout.reversals.all()
                if r.status != TransferReversal.Status.REFUSED
            )
            assert reversed_total <= payout.amount_cents
            assert payout.reversed_cents <= payout.amount_cents

    @invariant()
    def each_payment_intent_credits_once(self):
        credited = (
            LedgerEntry.objects.filter(transaction__reason="funding", amount_cents__gt=0).aggregate(
                total=Sum("amount_cents")
            )["total"]
            or 0
        )
        succeeded = (
            Funding.objects.filter(status=Funding.Status.SUCCEEDED).aggregate(
                total=Sum("amount_cents")
            )["total"]
            or 0
        )
        assert credited == succeeded

    def teardown(self):
        # Deliver what is left: any order must end in the same consistent state.
        while self.undelivered:
            self._receive(self.undelivered.pop())
        self.every_transaction_sums_to_zero()
        self.balances_equal_the_sum_of_entries()
        assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_money_state_machine(settings_fixture_for_machine, client, localstripe):
    MoneyMachine.client = client
    MoneyMachine.localstripe = localstripe
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )


@pytest.fixture
def settings_fixture_for_machine(settings, localstripe):
    localstripe.reset()
    use_localstripe(settings, localstripe)
    settings.PAYOUT_MINIMUM_CENTS = 1
    return settings


def test_event_payload_round_trips_through_json():
    event = event_payload("x.y", {"id": "obj_1"})
    assert json.loads(json.dumps(event))["data"]["object"]["id"] == "obj_1"
