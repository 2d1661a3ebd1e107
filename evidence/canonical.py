"""The one encoding that is hashed: canonical JSON (keys sorted, no whitespace, UTF-8), and the
chain's link rule. An auditor can recompute both with any JSON library (docs/contract/evidence.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, non-ASCII as UTF-8 (not \\u escapes); NaN and infinities are
    refused (they are not JSON)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link_hash(previous_hash: str, value: Any) -> str:
    """sha256(previous hash as 64 ASCII hex digits + canonical JSON of the entry)."""
    return sha256_hex(previous_hash.encode("ascii") + canonical_json(value))
