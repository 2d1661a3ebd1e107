"""Real deliveries from the running worker, verified by the Python client's
`inloop.webhooks.verify` and by the Standard Webhooks reference library.

A module of its own, so its instance's single worker is not busy matching the hundreds of
requests the other client tests create: the delivery task waits behind them in the queue (over
90 s on PostgreSQL on a loaded machine)."""

from __future__ import annotations

import inloop
import pytest
import standardwebhooks


def _item(**overrides) -> dict:
    body = {
        "title": "Hooked clause",
        "specialization": "law.contracts",
        "content": {"type": "text", "body": "The tenant may terminate at any time."},
        "max_hours": 0.5,
    }
    body.update(overrides)
    return body


@pytest.fixture
def client(system):
    with inloop.Inloop(api_key=system.seed["company"]["api_key"], base_url=system.url) as c:
        yield c


def test_real_deliveries_verify_with_the_client_and_standard_webhooks(
    system, client, webhook_receiver
):
    secret = system.seed["company"]["webhook_secret"]
    created = client.review_requests.create(**_item(callback_url=webhook_receiver.url))
    client.review_requests.cancel(created.id)
    [(headers, body)] = webhook_receiver.wait(1, timeout=60)

    event = inloop.webhooks.verify(body, headers["Inloop-Signature"], secret)
    assert event.type == "review_request.cancelled"
    assert event.data.id == created.id and event.data.status == "cancelled"
    assert standardwebhooks.Webhook(secret).verify(body, headers)["id"] == event.id

    with pytest.raises(inloop.InloopSignatureError):
        inloop.webhooks.verify(body + b" ", headers["Inloop-Signature"], secret)
    with pytest.raises(inloop.InloopSignatureError):
        inloop.webhooks.verify(body, headers["Inloop-Signature"], "whsec_" + "0" * 48)
    signed_at = int(headers["Inloop-Signature"].split(",")[0].removeprefix("t="))
    with pytest.raises(inloop.InloopSignatureError, match="too old"):
        inloop.webhooks.verify(body, headers["Inloop-Signature"], secret, now=signed_at + 301)
    with pytest.raises(inloop.InloopSignatureError, match="future"):
        inloop.webhooks.verify(body, headers["Inloop-Signature"], secret, now=signed_at - 301)
