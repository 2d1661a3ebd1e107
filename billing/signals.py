"""Signals billing sends; other apps connect to them (billing imports no other app).

funds_added(organization_id): money arrived in a company's available balance (a card top-up
credited by its webhook, operator credit, a refund). Sent inside the transaction that posted
it; receivers defer their work with transaction.on_commit (review_requests matches the
requests that were waiting for funds)."""

from __future__ import annotations

from django.dispatch import Signal

funds_added = Signal()
