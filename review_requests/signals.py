"""Signals review_requests sends to the apps above it (evidence), which it cannot import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent on commit of every move of a request to `completed` (the first completion and each one
# after a dispute), with `review_request_id` (UUID) and `after_dispute` (bool).
review_request_completed = Signal()

# Sent when a company member or an operator opens a workspace socket (watching live), with
# `review_request_id`, `assignment_id` (UUIDs), `user` and `role` ("company" or "operator").
workspace_watched = Signal()

# Sent on commit of a dispute's decision (any outcome, a rework too), with `review_request_id`.
dispute_decided = Signal()
