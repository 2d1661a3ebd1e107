"""Charts drawn as inline SVG by the server. Every chart is paired with a table of the same
numbers in the template, so the SVG is decorative for screen readers beyond its label."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 64
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 32
GRID_LINES = 4


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]


def _nice_max(value: float) -> float:
    """A round number at or above `value`, so grid labels read well (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _grid_lines(top: float, *, whole: bool) -> int:
    """How many grid steps: GRID_LINES, unless whole-number data (counts) would get fractional
    labels (a top of 1, 2, 5 or 10), then a step count that divides the top evenly."""
    if not whole or (float(top).is_integer() and int(top) % GRID_LINES == 0):
        return GRID_LINES
    top_int = int(top)
    return next(n for n in (5, 2, 1) if top_int % n == 0)


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    format_value: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> SafeString:
    """Grouped vertical bars: one group per label, one bar per series (legend below)."""
    count = max(len(labels), 1)
    top = _nice_max(max((max(s.values, default=0) for s in series), default=0))
    whole = all(float(v).is_integer() for s in series for v in s.values)
    lines = _grid_lines(top, whole=whole)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    group_w = plot_w / count
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    parts: list[str] = []
    for i in range(lines + 1):
        y = PAD_TOP + plot_h - plot_h * i / lines
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(format_value(top * i / lines))}</text>"
        )
    for g, label in enumerate(labels):
        x0 = PAD_LEFT + g * group_w + group_w * 0.1
        for s_index, s in enumerate(series):
            value = s.values[g] if g < len(s.values) else 0
            h = plot_h * max(value, 0) / top
            x = x0 + s_index * bar_w
            y = PAD_TOP + plot_h - h
            css = "bar" if s_index % 2 == 0 else "bar bar--alt"
            opacity = (
                "" if s_index < 2 else f' fill-opacity="{max(0.35, 1 - 0.2 * (s_index - 1)):.2f}"'
            )
            parts.append(
                f'<rect class="{css}"{opacity} x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" '
                f'height="{h:.1f}"><title>{escape(s.name)} · {escape(label)}: '
                f"{escape(format_value(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{PAD_LEFT + g * group_w + group_w / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
        f'y1="{PAD_TOP + plot_h}" y2="{PAD_TOP + plot_h}"/>'
    )
    legend = ""
    if len(series) > 1:
        legend = " · ".join(escape(s.name) for s in series)
    svg = format_html(
        '<figure class="chart"><svg viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}</svg>{}</figure>",
        WIDTH,
        HEIGHT,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - built above from escaped pieces
        format_html('<figcaption class="small muted">{}</figcaption>', mark_safe(legend))  # noqa: S308
        if legend
        else "",
    )
    return svg


def money_axis(cents: float) -> str:
    return f"${cents / 100:,.0f}"
