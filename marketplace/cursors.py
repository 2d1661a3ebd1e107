"""The API's list cursors: base64url of `[created_at ISO, id]`, opaque to clients. One place for
every list that pages over (created_at, id), newest first (requests, exports, golden items)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from marketplace.api import ApiError


def cursor_encode(created_at: datetime | str, pk: Any) -> str:
    when = created_at.isoformat() if isinstance(created_at, datetime) else created_at
    ident = pk if isinstance(pk, int) else str(pk)
    raw = json.dumps([when, ident], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str, *, ids: Literal["uuid", "int"] = "uuid") -> tuple[datetime, Any]:
    """The (created_at in UTC, id) a cursor of cursor_encode names; ValueError for anything
    else (ids are UUIDs, or integers that are not booleans)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("naive")
        if ids == "int" and (isinstance(pk, bool) or not isinstance(pk, int)):
            raise ValueError("not an integer id")
        # Compared in UTC: year 1 at +14:00 or 9999 at -14:00 has no UTC equivalent.
        return when.astimezone(UTC), pk if ids == "int" else uuid.UUID(str(pk))
    except (
        ValueError,
        TypeError,
        OverflowError,
        AttributeError,
        binascii.Error,
        UnicodeDecodeError,
    ) as exc:
        raise ValueError("not a cursor this API returned") from exc


def cursor_or_422(cursor: str, *, ids: Literal["uuid", "int"] = "uuid") -> tuple[datetime, Any]:
    try:
        return cursor_decode(cursor, ids=ids)
    except ValueError as exc:
        raise ApiError(
            422, "validation_error", "cursor: not a cursor this API returned.", field="cursor"
        ) from exc


def uuid_or_404(value: str) -> uuid.UUID:
    """An id from a URL path: anything but a UUID is a 404, like an unknown id."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ApiError(404, "not_found", "Not found.") from exc
