"""Charts drawn as inline SVG by the server, for every page that has one (a company's spend, an
expert's earnings, the operator console): no JavaScript, nothing styled inline (the CSP), colours
from the stylesheet (.bar, .grid, .axis). Each chart stands beside or under a table of the same
numbers; its accessible name says what it shows, and the table is where a screen reader reads
the numbers.

- column_chart: vertical columns over categories (weeks, months, states, ages), one or more
  series side by side in each, on a grid of round numbers.
- hbar_chart: one horizontal bar per named row, the name on the left and the value at the bar's
  end, one row each, so long names never overlap (they are cut, with the whole name on hover).

Values are plain numbers (counts, or cents with format_value=money_axis / money_label)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from marketplace.templatetags.inloop import format_cents

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 12, 32
GRID_LINES = 4
ROW_H, LABEL_W, VALUE_W = 28, 200, 90
LABEL_CHARS = 30

Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]


def count_label(value: float) -> str:
    return f"{value:,.0f}"


def money_axis(cents: float) -> str:
    """An axis label in whole dollars: 250000 -> "$2,500"."""
    return f"${cents / 100:,.0f}"


def money_label(cents: float) -> str:
    """An exact amount: 28250 -> "$282.50"."""
    return format_cents(int(cents))


def nice_max(value: float) -> float:
    """A round number at or above `value` (1, 2 or 5 x 10^n), so grid labels read well."""
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
    """GRID_LINES steps, unless whole-number data (counts) would get fractional labels (a top of
    1, 2, 5 or 10): then a step count that divides the top evenly."""
    if not whole or (float(top).is_integer() and int(top) % GRID_LINES == 0):
        return GRID_LINES
    top_int = int(top)
    return next(n for n in (5, 2, 1) if top_int % n == 0)


def _svg(title: str, height: float, body: SafeString) -> SafeString:
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}</svg>",
        WIDTH,
        f"{height:g}",
        title,
        title,
        body,
    )


def _grid(top: float, lines: int, format_value: Format) -> SafeString:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    rows = []
    for i in range(lines + 1):
        y = f"{PAD_TOP + plot_h - plot_h * i / lines:.1f}"
        label_y = f"{PAD_TOP + plot_h - plot_h * i / lines + 4:.1f}"
        rows.append((PAD_LEFT, WIDTH - PAD_RIGHT, y, y, PAD_LEFT - 6, label_y))
        rows[-1] += (format_value(top * i / lines),)
    return format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text x="{}" y="{}" text-anchor="end">{}</text>',
        rows,
    )


def column_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    format_value: Format = count_label,
    format_axis: Format | None = None,
    long_labels: Sequence[str] | None = None,
) -> SafeString:
    """Columns: one group per label, one column per series (name the series in a legend beside
    the chart when there are several). Each column's tooltip says its series, its long label
    (the label if none) and its value; negative values draw as zero."""
    count = max(len(labels), 1)
    values = [max(v, 0) for s in series for v in s.values]
    top = nice_max(max(values, default=0))
    lines = _grid_lines(top, whole=all(float(v).is_integer() for v in values))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    group_w = plot_w / count
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    long_labels = long_labels or labels
    columns, captions = [], []
    for g, label in enumerate(labels):
        x0 = PAD_LEFT + g * group_w + group_w * 0.1
        for index, one in enumerate(series):
            value = one.values[g] if g < len(one.values) else 0
            height = plot_h * max(value, 0) / top
            named = f"{one.name} · {long_labels[g]}" if len(series) > 1 else long_labels[g]
            columns.append(
                (
                    "bar" if index % 2 == 0 else "bar bar--alt",
                    f"{max(0.35, 1 - 0.2 * (index - 1)):.2f}" if index >= 2 else "1",
                    f"{x0 + index * bar_w:.1f}",
                    f"{PAD_TOP + plot_h - height:.1f}",
                    f"{bar_w - 1:.1f}",
                    f"{height:.1f}",
                    named,
                    format_value(value),
                )
            )
        captions.append((f"{PAD_LEFT + g * group_w + group_w / 2:.1f}", HEIGHT - 12, label))
    body = format_html(
        '{}{}{}<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>',
        _grid(top, lines, format_axis or format_value),
        format_html_join(
            "",
            '<rect class="{}" fill-opacity="{}" x="{}" y="{}" width="{}" height="{}">'
            "<title>{}: {}</title></rect>",
            columns,
        ),
        format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', captions),
        PAD_LEFT,
        WIDTH - PAD_RIGHT,
        PAD_TOP + plot_h,
        PAD_TOP + plot_h,
    )
    return _svg(title, HEIGHT, body)


def hbar_chart(
    *, title: str, rows: Sequence[tuple[str, int | float]], format_value: Format = count_label
) -> SafeString:
    """One bar per (label, value), in the order given: the label on the left (cut at
    LABEL_CHARS, whole in the tooltip), the value at the bar's end."""
    top = nice_max(max((max(value, 0) for _, value in rows), default=0))
    plot_w = WIDTH - LABEL_W - VALUE_W
    bars = []
    for index, (label, value) in enumerate(rows):
        width = plot_w * max(value, 0) / top
        shown = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        y = ROW_H * index
        bars.append(
            (
                LABEL_W - 8,
                y + 22,
                shown,
                LABEL_W,
                y + 8,
                f"{width:.1f}",
                ROW_H - 10,
                label,
                format_value(value),
                f"{LABEL_W + width + 6:.1f}",
                y + 22,
                format_value(value),
            )
        )
    body = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
        '<text x="{}" y="{}">{}</text>',
        bars,
    )
    return _svg(title, ROW_H * max(len(rows), 1) + 8, body)
