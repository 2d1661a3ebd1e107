"""Signals other apps subscribe to, so the core never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the suspension transaction with `user` and `actor`.
user_suspended = Signal()
