"""inloop.webhooks.verify: the Inloop-Signature of API.md, constant-time, refusing stale and
future timestamps; and the Standard Webhooks headers that `webhook listen` forwards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import inloop
import pytest
from inloop import webhooks
from inloop_fakes import review_request

SECRET = "whsec_" + "ab12" * 12
NOW = 1_780_000_000
BODY = json.dumps(
    {"id": "evt_1", "type": "review_request.completed", "created": NOW, "data": review_request()},
    separators=(",", ":"),
).encode()


def _header(body: bytes = BODY, secret: str = SECRET, t: int = NOW) -> str:
    # Written out from the contract, not with the module's own sign().
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def test_a_valid_signature_returns_the_typed_event():
    event = webhooks.verify(BODY, _header(), SECRET, now=NOW + 10)
    assert event.id == "evt_1" and event.type == "review_request.completed"
    assert event.data.title == "Clause 0"
    # str bodies are taken as their UTF-8 bytes.
    assert webhooks.verify(BODY.decode(), _header(), SECRET, now=NOW).id == "evt_1"


@pytest.mark.parametrize(
    ("body", "header", "secret", "now", "reason"),
    [
        (BODY + b" ", _header(), SECRET, NOW, "does not match"),
        (BODY, _header(), SECRET + "x", NOW, "does not match"),
        (BODY, _header(t=NOW - 301), SECRET, NOW, "too old"),
        (BODY, _header(t=NOW + 301), SECRET, NOW, "future"),
        (BODY, "", SECRET, NOW, "missing"),
        (BODY, None, SECRET, NOW, "missing"),
        (BODY, f"t={NOW}", SECRET, NOW, "missing"),
        (BODY, "t=soon,v1=00", SECRET, NOW, "not a number"),
        (BODY, _header(), "", NOW, "No webhook secret"),
    ],
)
def test_a_bad_delivery_is_refused(body, header, secret, now, reason):
    with pytest.raises(inloop.InloopSignatureError, match=reason):
        webhooks.verify(body, header, secret, now=now)


def test_the_tolerance_is_adjustable_and_inclusive():
    assert webhooks.verify(BODY, _header(t=NOW - 300), SECRET, now=NOW).id
    with pytest.raises(inloop.InloopSignatureError):
        webhooks.verify(BODY, _header(t=NOW - 60), SECRET, tolerance=30, now=NOW)


def test_any_of_several_v1_signatures_may_match():
    good = _header().split("v1=")[1]
    header = f"t={NOW},v1={'0' * 64},v1={good}"
    assert webhooks.verify(BODY, header, SECRET, now=NOW).id == "evt_1"


def test_a_signed_body_that_is_not_an_event_is_refused():
    body = b'{"hello": "world"}'
    with pytest.raises(inloop.InloopSignatureError, match="not an Inloop event"):
        webhooks.verify(body, _header(body), SECRET, now=NOW)


def test_sign_makes_what_the_contract_says():
    assert webhooks.sign(BODY, SECRET, timestamp=NOW) == _header()


def test_standard_webhooks_headers_verify_with_the_standardwebhooks_library():
    standardwebhooks = pytest.importorskip("standardwebhooks")
    headers = webhooks.signed_headers(BODY, SECRET, event_id="evt_1")
    assert headers["webhook-id"] == "evt_1"
    verified = standardwebhooks.Webhook(SECRET).verify(BODY, headers)
    assert verified["id"] == "evt_1"
    assert webhooks.verify(BODY, headers["Inloop-Signature"], SECRET).id == "evt_1"


def test_standard_secret_mapping():
    # Inloop's secrets (whsec_ + 48 hex digits) are valid base64 after the prefix: used as is.
    assert webhooks.standard_webhooks_secret(SECRET) == SECRET
    assert webhooks.standard_webhooks_key(SECRET) == base64.b64decode("ab12" * 12)
    assert len(webhooks.standard_webhooks_key(SECRET)) == 36
    # Anything else signs with its own bytes, i.e. whsec_ + base64 of itself.
    assert webhooks.standard_webhooks_secret("x") == "whsec_eA=="
    assert webhooks.standard_webhooks_key("x") == b"x"
    assert webhooks.standard_webhooks_key("whsec_not base64!") == b"whsec_not base64!"
