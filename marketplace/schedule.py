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
]
