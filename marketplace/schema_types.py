"""Annotated string and JSON types for ninja/pydantic input schemas: every input string of the
API is one of these, so it goes through marketplace.textnorm. Strings are normalised after the
field's own constraints, so `maxLength` and `pattern` apply to what the client sent, exactly as
the OpenAPI document says (a schema-driven client or fuzzer agrees with the server); a single-line
value that NFC would make longer (a few composition exclusions, e.g. U+0958) is refused, since it
could then overflow its column. A refusal is a pydantic error of type `text_refused` whose
context carries `json_path` (the place inside a JSON value); the API's error handler appends it
to the field's path."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
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
