"""Manual money actions in the console (billing.money_actions): mark failed only what never
reached Stripe, reverse what Stripe moved, one line in dollars before anything happens, audit
before/after, a second operator over the threshold, and never twice."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from billing import ledger, money_actions, payouts, stripe_gateway
from billing.models import ConnectedAccount, LedgerAccount, MoneyAction, Payout, TransferReversal
from marketplace.models import AuditLog
from tests.billing.support import transfers_made
from tests.conftest import give_operator_mfa, login_client
from tests.factories import (
    ConnectedAccountFactory,
    CreditGrantFactory,
    EarningFactory,
    PayoutFactory,
)

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind
Action = MoneyAction.Kind


@pytest.fixture
def op_client(operator):
    give_operator_mfa(operator)
    return login_client(operator)


@pytest.fixture
def sent_payout(stripe_on, organization, expert) -> Payout:
    """A 6,000-cent earning paid out: Stripe made the transfer."""
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payouts.payout_run()
    payout = Payout.objects.get()
    assert payout.status == Payout.Status.SENT
    return payout


def confirm(client, url: str, reason: str = "operator check"):
    page = client.get(url)
    token = re.search(r'name="request_token" value="([0-9a-f-]+)"', page.content.decode())
    form = {"reason": reason, "request_token": token.group(1)}
    return client.post(url, form), form


def net_transferred(localstripe, expert) -> int:
    account = ConnectedAccount.objects.get(user=expert).stripe_account_id
    failed = localstripe.failed_transfers()
    return sum(
        transfer.amount - transfer.amount_reversed
        for transfer in stripe_gateway.transfers_for_destination(account)
        if transfer.id not in failed
    )


def crashed_after_the_transfer(localstripe, expert) -> Payout:
    """A run that reached Stripe and died before committing the outcome."""
    payout = PayoutFactory(user=expert)
    assert payouts.payout_transfer_claim(payout=payout)
    account = ConnectedAccount.objects.get(user=expert)
    payouts.payout_transfer_call(payout=payout, destination=account.stripe_account_id)
    payout.refresh_from_db()
    return payout


# The bug of issue #14 -------------------------------------------------------------------------------


def test_mark_failed_on_a_sent_payout_never_pays_the_expert_twice(
    stripe_on, op_client, expert, sent_payout
):
    url = f"/console/payouts/{sent_payout.pk}/fail/"
    assert op_client.get(url).status_code == 302  # no confirmation page: it cannot be done
    response = op_client.post(url, {"reason": "late", "request_token": str(_token())}, follow=True)
    assert "Stripe moved the money. Reverse the transfer" in response.content.decode()
    payouts.payout_run()

    assert transfers_made(stripe_on) == 1
    assert net_transferred(stripe_on, expert) == 6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0
    sent_payout.refresh_from_db()
    assert sent_payout.status == Payout.Status.SENT


def test_payouts_page_offers_reversal_not_mark_failed_for_a_sent_payout(op_client, sent_payout):
    page = op_client.get("/console/payouts/", {"kind": "all"}).content.decode()
    assert f"/console/payouts/{sent_payout.pk}/reverse/" in page
    assert f"/console/payouts/{sent_payout.pk}/fail/" not in page


def test_mark_failed_after_a_crash_past_the_stripe_call_finds_the_transfer(
    stripe_on, organization, expert, operator
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = crashed_after_the_transfer(stripe_on, expert)
    later = timezone.now() + payouts.TRANSFER_IN_FLIGHT

    with pytest.raises(ValidationError, match="Stripe made transfer tr_"):
        money_actions.money_action_propose(
            kind=Action.PAYOUT_MARK_FAILED,
            operator=operator,
            reason="looks stuck",
            request_token=_token(),
            payout=payout,
            now=later,
        )
    payouts.payout_run()

    payout.refresh_from_db()
    assert payout.status == Payout.Status.SENT and payout.stripe_transfer_id
    assert transfers_made(stripe_on) == 1
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0
    assert not MoneyAction.objects.exists()


def test_mark_failed_while_a_transfer_request_may_be_in_flight_is_refused(
    stripe_on, organization, expert, operator
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = PayoutFactory(user=expert)
    payouts.payout_transfer_claim(payout=payout)  # the sender is calling Stripe right now

    with pytest.raises(ValidationError, match="may still be on its way"):
        money_actions.money_action_propose(
            kind=Action.PAYOUT_MARK_FAILED,
            operator=operator,
            reason="x",
            request_token=_token(),
            payout=payout,
        )
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PENDING
    assert stripe_on.calls().get("GET /v1/transfers", 0) == 0


def test_mark_failed_of_a_payout_stripe_never_saw_asks_nothing_and_returns_the_money(
    stripe_on, organization, expert, operator
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    payout = PayoutFactory(user=expert)

    proposal = money_actions.money_action_propose(
        kind=Action.PAYOUT_MARK_FAILED,
        operator=operator,
        reason="expert left",
        request_token=_token(),
        payout=payout,
    )

    payout.refresh_from_db()
    assert proposal.action.status == MoneyAction.Status.EXECUTED
    assert payout.status == Payout.Status.FAILED
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    assert stripe_on.calls() == {}
    # A sender that read the payout before the operator's commit finds it failed: no call.
    assert payouts.payout_transfer_claim(payout=payout) is False


def test_mark_failed_of_a_crashed_payout_with_no_transfer_at_stripe_fails_it(
    stripe_on, organization, expert, operator
):
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = PayoutFactory(user=expert)
    payouts.payout_transfer_claim(payout=payout)  # then the process died before calling

    money_actions.money_action_propose(
        kind=Action.PAYOUT_MARK_FAILED,
        operator=operator,
        reason="never sent",
        request_token=_token(),
        payout=payout,
        now=timezone.now() + payouts.TRANSFER_IN_FLIGHT,
    )
    payouts.payout_run()

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert transfers_made(stripe_on) == 1  # the next run's new payout, once
    assert net_transferred(stripe_on, expert) == 6000


# Reversal -------------------------------------------------------------------------------------------


def test_reverse_takes_the_money_back_through_stripe_and_the_next_run_pays_once(
    stripe_on, op_client, operator, expert, sent_payout
):
    page = op_client.get(f"/console/payouts/{sent_payout.pk}/reverse/").content.decode()
    assert (
        f"Reverse $60.00 of payout #{sent_payout.pk}&#x27;s transfer: Stripe takes it back from "
        "erin.expert@inloop.test&#x27;s account into their available balance here"
    ) in page

    response, form = confirm(op_client, f"/console/payouts/{sent_payout.pk}/reverse/")
    op_client.post(f"/console/payouts/{sent_payout.pk}/reverse/", form)  # reload of the POST

    assert response.status_code == 302
    reversal = TransferReversal.objects.get()
    assert reversal.status == TransferReversal.Status.SUCCEEDED
    assert reversal.purpose == TransferReversal.Purpose.OPERATOR
    assert stripe_on.calls().get("POST /v1/transfers/{id}/reversals") == 1
    assert net_transferred(stripe_on, expert) == 0
    sent_payout.refresh_from_db()
    assert sent_payout.status == Payout.Status.FAILED
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000
    assert ledger.LedgerTransaction.objects.filter(ref=f"transfer-reversal:{reversal.pk}").exists()
    row = AuditLog.objects.get(action="console.payout_reversal_requested")
    assert row.before["expert_paid_out_cents"] == 6000 and row.actor == operator

    payouts.payout_run()
    assert net_transferred(stripe_on, expert) == 6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000


def test_a_reversed_payout_is_paid_by_the_next_run_not_retried(
    stripe_on, operator, expert, sent_payout
):
    _propose(Action.PAYOUT_REVERSE, operator, sent_payout)
    with pytest.raises(ValidationError, match="reversed payout"):
        money_actions.money_action_preview(kind=Action.PAYOUT_RETRY, payout=sent_payout)


# Retry ----------------------------------------------------------------------------------------------


def test_retry_of_a_payout_waiting_for_stripe_sends_its_own_transfer_request_again(
    stripe_on, organization, expert, operator
):
    CreditGrantFactory(organization=organization, amount_cents=100_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = crashed_after_the_transfer(stripe_on, expert)
    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.AWAITING_STRIPE)
    EarningFactory(
        organization=organization, user=expert, available=True
    )  # more money available: must not be taken

    proposal = _propose(Action.PAYOUT_RETRY, operator, payout)
    money_actions.money_action_stripe_step(action=proposal.action)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.SENT and payout.attempt == 0
    assert transfers_made(stripe_on) == 2  # the crashed call and its replay: one transfer
    assert net_transferred(stripe_on, expert) == 6000
    assert ledger.balance(Kind.EXPERT_PAID_OUT, user=expert) == 6000
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 6000


def test_a_late_event_about_an_earlier_attempt_does_not_touch_the_retry(
    stripe_on, organization, expert, operator, client
):
    from tests.billing.support import event_payload, post_event

    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = crashed_after_the_transfer(stripe_on, expert)
    first = stripe_gateway.transfers_for_destination(
        ConnectedAccount.objects.get(user=expert).stripe_account_id
    )[0]
    stripe_on.fail_transfer(first.id)
    failed = event_payload("transfer.failed", first.to_dict())
    post_event(client, failed)
    _process_stored()
    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    _propose(Action.PAYOUT_RETRY, operator, payout)

    post_event(client, event_payload("transfer.created", first.to_dict()))
    post_event(client, event_payload("transfer.failed", first.to_dict()))
    _process_stored()
    payout.refresh_from_db()
    assert (payout.status, payout.attempt, payout.stripe_transfer_id) == ("pending", 1, "")
    payouts.payouts_send()
    assert net_transferred(stripe_on, expert) == 6000


# Approval by a second operator ----------------------------------------------------------------------


def test_over_the_threshold_a_second_operator_approves_once(
    settings, op_client, operator, other_operator, organization
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 10_000
    proposal = _propose(Action.CREDIT_GRANT, operator, None, organization, 25_000)
    assert proposal.action.status == MoneyAction.Status.AWAITING_APPROVAL
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 0
    page = op_client.get("/console/money-actions/").content.decode()
    assert "Grant $250.00 of credit to Acme AI" in page
    assert "another operator decides" in page

    with pytest.raises(PermissionDenied):
        money_actions.money_action_approve(action=proposal.action, operator=operator)
    action = money_actions.money_action_approve(action=proposal.action, operator=other_operator)
    with pytest.raises(ValidationError, match="no longer waiting"):
        money_actions.money_action_approve(action=proposal.action, operator=other_operator)

    assert action.status == MoneyAction.Status.EXECUTED and action.decided_by == other_operator
    assert ledger.balance(Kind.COMPANY_AVAILABLE, organization=organization) == 25_000
    row = AuditLog.objects.get(action="console.credit_granted")
    assert (row.before["available_cents"], row.after["available_cents"]) == (0, 25_000)
    assert row.after["approved_by"] == other_operator.email
    assert AuditLog.objects.filter(action="console.money_action_proposed").count() == 1


def test_a_rejected_action_moves_nothing(settings, operator, other_operator, expert, sent_payout):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000
    proposal = _propose(Action.PAYOUT_REVERSE, operator, sent_payout)
    money_actions.money_action_reject(action=proposal.action, operator=other_operator, note="no")
    with pytest.raises(ValidationError):
        money_actions.money_action_approve(action=proposal.action, operator=other_operator)
    assert not TransferReversal.objects.exists()
    assert MoneyAction.objects.get().status == MoneyAction.Status.REJECTED


def test_an_approval_after_the_money_moved_on_is_recorded_as_refused(
    settings, stripe_on, operator, other_operator, organization, expert
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000
    CreditGrantFactory(organization=organization, amount_cents=50_000)
    EarningFactory(organization=organization, user=expert, available=True)
    ConnectedAccountFactory(user=expert, localstripe=stripe_on)
    payout = PayoutFactory(user=expert)
    proposal = _propose(Action.PAYOUT_MARK_FAILED, operator, payout)
    payouts.payouts_send()  # the run sent it meanwhile

    action = money_actions.money_action_approve(action=proposal.action, operator=other_operator)

    assert action.status == MoneyAction.Status.REFUSED
    assert "Reverse the transfer" in action.outcome
    payout.refresh_from_db()
    assert payout.status == Payout.Status.SENT
    assert ledger.balance(Kind.EXPERT_AVAILABLE, user=expert) == 0


def test_bad_input_changes_nothing(operator, organization):
    with pytest.raises(ValidationError, match="reason"):
        _propose(Action.CREDIT_GRANT, operator, None, organization, 100, reason=" ")
    with pytest.raises(ValidationError, match="positive"):
        _propose(Action.CREDIT_GRANT, operator, None, organization, 0)
    with pytest.raises(ValidationError, match="available to revoke"):
        _propose(Action.CREDIT_REVOKE, operator, None, organization, 100)
    assert not MoneyAction.objects.exists()


def _token():
    import uuid

    return uuid.uuid4()


def _propose(kind, operator, payout, organization=None, amount_cents=None, reason="ok"):
    return money_actions.money_action_propose(
        kind=kind,
        operator=operator,
        reason=reason,
        request_token=_token(),
        payout=payout,
        organization=organization,
        amount_cents=amount_cents,
        now=timezone.now() + timedelta(hours=1),
    )


def _process_stored():
    from billing.models import StripeEvent
    from billing.webhooks import stripe_event_process

    for event_id in StripeEvent.objects.filter(processed_at=None).values_list("pk", flat=True):
        stripe_event_process(event_id=event_id)
