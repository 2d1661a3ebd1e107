"""schemathesis hooks for tests/system/test_api_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

Every generated `callback_url` string is replaced by a local one: the server resolves a callback
host when a request is created, and the fuzzer would otherwise make it look up random names on
the machine's DNS resolver. Everything else is generated as the document says."""

from __future__ import annotations

from typing import Any

import schemathesis

LOCAL_CALLBACK = "http://127.0.0.1:9/fuzz-callback"


def _localise(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: LOCAL_CALLBACK
            if key == "callback_url" and isinstance(item, str) and item
            else _localise(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_localise(item) for item in value]
    return value


@schemathesis.hook
def map_body(context, body):
    return _localise(body)
