"""Signals other apps subscribe to, so `experts` never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit with `expert_id` whenever something that can change who matches a queued
# request changed: availability, time off, the accepting-work switch, the rate, specializations,
# a credential's verification, or capacity freed by a lower load. review_requests re-matches.
expert_supply_changed = Signal()
