"""The one rule for text that comes from outside: API bodies and headers, form fields, workspace
frames. Every string is put in Unicode NFC; a multi-line string (bodies, comments, chat) keeps
newlines and tabs, with CRLF and lone CR turned into LF (browsers send CRLF from a textarea); a
single-line string (titles, names, keys) keeps neither. Anything else that PostgreSQL refuses or
that has no business in text is REFUSED, never stripped: NUL and the other C0/C1 control
characters, and lone surrogates (which no encoding can store). Refusing names the field and
changes nothing, so a client learns that its data was not what it meant, instead of finding it
silently altered. JSON values (metadata, `json` content) get the same rule for every key and
string inside them (multi-line), and their numbers must be finite: `1e999` parses as infinity,
which neither JSON nor PostgreSQL's jsonb can hold.

Callers adapt the one exception, TextRefused, to their edge: `marketplace.schema_types` for
ninja schemas (422 naming the JSON path), `marketplace.formfields.TextField` for Django forms,
and the workspace's frame checks (an `error` frame).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

# C0 and C1 controls and DEL, except tab and newline (and CR, turned into LF before this runs).
_MULTILINE_REFUSED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SINGLE_LINE_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NEWLINES = re.compile(r"\r\n?")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class TextRefused(ValueError):
    """`message` says what is wrong (never quoting the bad text); `path` is the JSON path below
    the field where it was found ("" for the field itself, `.a[2]` inside a JSON value)."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


def _describe(char: str) -> str:
    if char == "\x00":
        return "a NUL character (\\u0000)"
    if "\ud800" <= char <= "\udfff":
        return "a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text"
    if char in "\n\t\r":
        return "a line break or tab, which this single-line field does not allow"
    return f"a control character (U+{ord(char):04X})"


def text_clean(value: str, *, multiline: bool) -> str:
    """`value` in NFC (and with LF line ends if multi-line); raises TextRefused."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise TextRefused(f"contains {_describe(found.group())}.")
    if multiline and "\r" in value:
        value = _NEWLINES.sub("\n", value)
    pattern = _MULTILINE_REFUSED if multiline else _SINGLE_LINE_REFUSED
    found = pattern.search(value)
    if found is not None:
        raise TextRefused(f"contains {_describe(found.group())}.")
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return value


def _key_path(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def json_clean(value: Any) -> Any:
    """A parsed JSON value with every key and string cleaned (multi-line) and every number
    finite; raises TextRefused whose path points inside the value. Iterative, so nesting as
    deep as the JSON parser accepted cannot exhaust the stack here."""
    root: list[Any] = [None]
    # (value, container, slot, path): put the cleaned value into container[slot].
    stack: list[tuple[Any, Any, Any, str]] = [(value, root, 0, "")]
    while stack:
        item, container, slot, path = stack.pop()
        if isinstance(item, str):
            container[slot] = _json_text(item, path)
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            container[slot] = item
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise TextRefused(
                    "must be a finite number (1e999, NaN and Infinity are not).", path
                )
            container[slot] = item
        elif isinstance(item, list):
            cleaned_list: list[Any] = [None] * len(item)
            container[slot] = cleaned_list
            stack.extend((v, cleaned_list, i, f"{path}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, dict):
            cleaned_dict: dict[str, Any] = {}
            container[slot] = cleaned_dict
            for key, v in item.items():
                clean_key = _json_text(key, path) if isinstance(key, str) else key
                if clean_key in cleaned_dict:
                    raise TextRefused("has two keys that are the same once normalised.", path)
                cleaned_dict[clean_key] = None
                stack.append((v, cleaned_dict, clean_key, _key_path(path, clean_key)))
        else:
            raise TextRefused("is not a JSON value.", path)
    return root[0]


def _json_text(text: str, path: str) -> str:
    try:
        return text_clean(text, multiline=True)
    except TextRefused as exc:
        raise TextRefused(exc.message, path) from exc
