"""Background work of billing (django-tasks; `db_worker` runs them, the scheduler enqueues the
periodic ones listed in inloop_site/schedule.py)."""

from __future__ import annotations

from django_tasks import task

from billing import payouts, services, webhooks


@task()
def earnings_mature() -> int:
    """Periodic: pending earnings past the dispute window become available (frozen ones wait)."""
    return services.earnings_mature_due()


@task()
def payouts_weekly() -> dict:
    """Periodic (weekly): create payouts for experts over the minimum and send them."""
    run = payouts.payout_run()
    return {"run": run.pk, "payouts": run.payouts_created, "stripe_calls": run.stripe_calls}


@task()
def stripe_event_handle(event_id: str) -> str:
    """Handle one stored Stripe webhook event (idempotent)."""
    return webhooks.stripe_event_process(event_id=event_id).outcome


@task()
def transfer_reversal_execute(reversal_id: int) -> str:
    return services.transfer_reversal_execute(reversal_id=reversal_id).status
