"""Periodic work: the scheduler process enqueues these tasks; `db_worker` processes run them.

Each entry: (dotted path of a django-tasks task, APScheduler trigger name, trigger kwargs).
Tasks must be safe to run twice and concurrently (they lock or use conditional updates).
"""

from __future__ import annotations

SCHEDULE: list[tuple[str, str, dict]] = [
    ("review_requests.tasks.webhooks_retry_due", "interval", {"seconds": 30}),
    ("review_requests.tasks.offers_expire_due", "interval", {"seconds": 30}),
    ("review_requests.tasks.requests_expire_due", "interval", {"seconds": 60}),
    ("review_requests.tasks.matching_sweep", "interval", {"minutes": 2}),
    ("review_requests.tasks.idempotency_prune", "interval", {"hours": 1}),
    ("review_requests.tasks.dispute_timers", "interval", {"minutes": 10}),
    ("billing.tasks.earnings_mature", "interval", {"minutes": 10}),
    # Oversight evidence: the daily anchor just after midnight UTC, retention once a day.
    ("evidence.tasks.evidence_anchor_daily", "cron", {"hour": 0, "minute": 5}),
    ("evidence.tasks.evidence_retention_prune", "cron", {"hour": 3, "minute": 30}),
    ("datasets.tasks.exports_fail_stale", "interval", {"minutes": 5}),
    # Weekly payouts: Mondays 09:00 UTC (billing.payouts.PAYOUT_WEEKDAY/PAYOUT_HOUR_UTC).
    ("billing.tasks.payouts_weekly", "cron", {"day_of_week": "mon", "hour": 9, "minute": 0}),
]
