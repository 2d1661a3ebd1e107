"""Broadcasts after commit, and a consumer holding them to send from its own event loop."""

from __future__ import annotations

import pytest
from django.db import transaction

from marketplace.realtime import broadcast_on_commit, holding_broadcasts

pytestmark = pytest.mark.django_db(transaction=True)


def test_held_broadcasts_are_the_committed_ones_in_commit_order():
    def service() -> str:
        with transaction.atomic():
            broadcast_on_commit("workspace.a", {"type": "first"})
            broadcast_on_commit("workspace.b", {"type": "second"})
        with pytest.raises(RuntimeError), transaction.atomic():
            broadcast_on_commit("workspace.a", {"type": "rolled back"})
            raise RuntimeError
        return "done"

    outbox: list = []
    assert holding_broadcasts(service, outbox)() == "done"
    assert outbox == [("workspace.a", {"type": "first"}), ("workspace.b", {"type": "second"})]


def test_broadcasts_are_held_only_during_the_call():
    outbox: list = []
    holding_broadcasts(lambda: None, outbox)()
    sent_directly = []
    with transaction.atomic():
        # Outside the call the message goes to the channel layer, not to the old outbox.
        transaction.on_commit(lambda: sent_directly.append(True))
        broadcast_on_commit("workspace.a", {"type": "later"})
    assert outbox == [] and sent_directly == [True]
