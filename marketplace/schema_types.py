"""Annotated string and JSON types for ninja/pydantic input schemas: every input string of the
API is one of these, so it goes through marketplace.textnorm. Strings are normalised after the
field's own constraints, so `maxLength` and `pattern` apply to what the client sent, exactly as
the OpenAPI document says (a schema-driven client or fuzzer agrees with the server); a single-line
value that NFC would make longer (a few composition exclusions, e.g. U+0958) is refused, since it
could then overflow its column. A refusal is a pydantic error of type `text_refused` whose
context carries `json_path` (the place inside a JSON value); the API's error handler appends it
to the field's path."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

from marketplace.textnorm import TextRefused, json_clean, text_clean

ERROR_TYPE = "text_refused"


def refusal(exc: TextRefused, path: str = "") -> PydanticCustomError:
    # The message never quotes the bad text (it could not be encoded in the response).
    return PydanticCustomError(ERROR_TYPE, exc.message, {"json_path": path + exc.path})


def _text_validator(*, multiline: bool):
    def clean(value: str) -> str:
        try:
            cleaned = text_clean(value, multiline=multiline)
        except TextRefused as exc:
            raise refusal(exc) from exc
        if not multiline and len(cleaned) > len(value):
            raise refusal(TextRefused("grows in Unicode NFC; send it in NFC."))
        return cleaned

    return AfterValidator(clean)


def _json_clean(value: Any) -> Any:
    try:
        return json_clean(value)
    except TextRefused as exc:
        raise refusal(exc) from exc


# A title, a name, a slug, a key: no line breaks, no tabs.
Line = Annotated[str, _text_validator(multiline=False)]
# A body, a prompt, a comment: newlines and tabs kept (CRLF becomes LF).
Text = Annotated[str, _text_validator(multiline=True)]
# Any JSON value; its keys and strings are Text, its numbers finite.
JsonValue = Annotated[Any, BeforeValidator(_json_clean)]
# A JSON object (metadata).
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_clean)]


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    # Only a YYYY-MM-DD string is a day: pydantic alone would also read 0 as 1 January 1970.
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
        raise PydanticCustomError("date", "must be a day as YYYY-MM-DD.")
    return value


def _iso_instant(value: Any) -> Any:
    # Only an ISO 8601 string is a time (as the document's `format: date-time` says), not 0.
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("datetime", "must be an ISO 8601 time with its offset.")
    return value


# A day, `YYYY-MM-DD`.
Day = Annotated[date, BeforeValidator(_iso_day)]
# A moment with its UTC offset, as an ISO 8601 string.
Instant = Annotated[AwareDatetime, BeforeValidator(_iso_instant)]
