"""Template filters used everywhere: money, time, untrusted markdown, query strings."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from marketplace.rendering import json_pretty, markdown_to_safe_html

register = template.Library()


def format_cents(cents: int | None, currency: str = "usd") -> str:
    """12345 -> "$123.45"; negative amounts keep their sign before the symbol."""
    if cents is None:
        return "—"
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    symbol = "$" if currency.lower() == "usd" else ""
    suffix = "" if symbol else f" {currency.upper()}"
    return f"{sign}{symbol}{whole:,}.{rest:02d}{suffix}"


@register.filter
def money(cents, currency: str = "usd") -> str:
    return format_cents(cents, currency or "usd")


@register.filter
def duration(seconds) -> str:
    """3725 -> "1 h 02 min"; 59 -> "0 min 59 s"."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


@register.filter
def reltime(value: datetime | None) -> str:
    """A <time> that common.js turns into "in 12 min" / "3 h ago", exact time on hover."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M %Z"),
        local.strftime("%b %d, %H:%M"),
    )


@register.filter
def abstime(value: datetime | None) -> str:
    """An exact <time> to the second, for evidence where "3 h ago" is not enough (time logs,
    transcripts)."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>', value.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S %Z")
    )


@register.filter
def markdown(text: str) -> str:
    return mark_safe(markdown_to_safe_html(text or ""))  # noqa: S308 - sanitized by nh3


@register.filter
def pretty_json(value) -> str:
    return json_pretty(value)


@register.simple_tag(takes_context=True)
def querystring_without(context, *names: str) -> str:
    request = context.get("request")
    if request is None:
        return ""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()
