"""Untrusted text to safe HTML: markdown-it-py with raw HTML off, then nh3 as a second wall."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

import nh3
from markdown_it import MarkdownIt

_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False})
    .enable("table")
    .enable("strikethrough")
)

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}


def markdown_to_safe_html(text: str) -> str:
    html = _md.render(text or "")
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def json_pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


# Markdown with marks: spans of the *source* (annotation offsets) shown in the rendered HTML. ------
#
# Each span's start and end are marked in the source with a character of the Unicode private use
# area (U+E000 upward: two per span), the source is rendered and sanitized as above, and every
# piece of text between a span's two characters is wrapped in the span's opening tag, text node
# by text node, so a mark never crosses an element and the HTML stays well formed. The marks
# must not change the rendering: stripped of them the result must be exactly what
# markdown_to_safe_html(text) gives, or None is returned and the caller shows the source as
# plain text instead (a span that starts inside markdown syntax, e.g. `**`, an entity or a
# fence, would otherwise break it).

_SENTINEL_BASE = 0xE000
_MAX_SPANS = (0xF8FF - _SENTINEL_BASE) // 2
_SENTINELS = re.compile("[\ue000-\uf8ff]")
# A sentinel inside a link's address comes out percent-encoded (U+E000-U+F8FF: EE 80 80-EF A3 BF).
_ENCODED_SENTINELS = re.compile(r"%E[EF]%[89AB][0-9A-F]%[89AB][0-9A-F]", re.IGNORECASE)
# What starts a line in markdown (indent, quotes, a list item's marker, a heading's hashes, a
# table row's pipe): a span starting at a line's start is moved past it, onto the line's text.
_LINE_START = re.compile(
    r"[ \t]*(?:>[ \t]?)*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:#{1,6}[ \t]+)?\|?[ \t]*"
)
_OUR_MARKS = re.compile(r"<mark data-span=\"\d+\"[^>]*>|</mark>")


def _placed(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) moved off the line-start syntax of markdown: a start at a line's beginning
    past its markers, an end at a line's beginning back before the line break."""
    if start == 0 or text[start - 1] == "\n":
        start = min(start + _LINE_START.match(text, start).end() - start, end)
    while end > start and text[end - 1] == "\n":
        end -= 1
    return start, end


def _with_sentinels(text: str, spans: list[tuple[int, int]]) -> str:
    inserts = []
    for index, (start, end) in enumerate(spans):
        start, end = _placed(text, start, end)
        if end > start:
            inserts.append((start, 1, chr(_SENTINEL_BASE + 2 * index)))
            inserts.append((end, 0, chr(_SENTINEL_BASE + 2 * index + 1)))
    pieces, last = [], 0
    for position, _, sentinel in sorted(inserts):
        pieces.append(text[last:position])
        pieces.append(sentinel)
        last = position
    pieces.append(text[last:])
    return "".join(pieces)


class _MarkWriter(HTMLParser):
    """Re-writes sanitized HTML as it came, with each text run inside a span wrapped in that
    span's <mark>, and the sentinels taken out (of text and of attributes)."""

    def __init__(self, opening_tags: list[str]):
        super().__init__(convert_charrefs=False)
        self.opening_tags = opening_tags
        self.current: int | None = None
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.out.append(_ENCODED_SENTINELS.sub("", _SENTINELS.sub("", self.get_starttag_text())))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self.out.append(f"</{tag}>")

    def handle_entityref(self, name):
        self._text(f"&{name};")

    def handle_charref(self, name):
        self._text(f"&#{name};")

    def handle_data(self, data):
        last = 0
        for found in _SENTINELS.finditer(data):
            self._text(data[last : found.start()])
            code = ord(found.group()) - _SENTINEL_BASE
            self.current = code // 2 if code % 2 == 0 else None
            last = found.end()
        self._text(data[last:])

    def _text(self, html: str) -> None:
        if not html:
            return
        # Whitespace alone is left unmarked: between two blocks it is no text a reader sees.
        if self.current is None or not html.strip():
            self.out.append(html)
        else:
            self.out.append(f'<mark data-span="{self.current}"{self.opening_tags[self.current]}>')
            self.out.append(html)
            self.out.append("</mark>")


def markdown_to_safe_html_marked(text: str, spans: Sequence[tuple[int, int, str]]) -> str | None:
    """markdown_to_safe_html(text) with each (start, end, attributes) span of the source marked:
    its text wrapped in <mark data-span="<index>" attributes>, where `attributes` is escaped HTML
    written by the caller (e.g. ` class="sev-major" title="..."`). Spans must not overlap.
    None when the marks cannot be placed without changing the rendering."""
    text = text or ""
    plain = markdown_to_safe_html(text)
    if not spans:
        return plain
    if len(spans) > _MAX_SPANS or _SENTINELS.search(text):
        return None
    ordered = sorted(spans)
    if any(a[1] > b[0] for a, b in itertools.pairwise(ordered)):
        raise ValueError("spans overlap")
    marked_source = _with_sentinels(text, [(start, end) for start, end, _ in ordered])
    writer = _MarkWriter([attributes for _, _, attributes in ordered])
    writer.feed(markdown_to_safe_html(marked_source))
    writer.close()
    html = "".join(writer.out)
    if _OUR_MARKS.sub("", html) != plain:
        return None
    return html
