"""Money charts: inline SVGs drawn on the server (no JavaScript), always shown next to a table of
the same numbers. Columns over time (an expert's earnings by week, a company's spend by month)
and horizontal bars for named groups (spend by specialization), whose labels never overlap."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from billing.selectors import WeekTotal
from marketplace.templatetags.inloop import format_cents

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 32


def _nice_top(cents: int) -> int:
    """A round dollar amount at or above the largest bar (1, 2, 5 x 10^n dollars)."""
    dollars = max(cents / 100, 1)
    magnitude = 1
    while magnitude * 10 <= dollars:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= dollars:
            return step * magnitude * 100
    return 10 * magnitude * 100


def earnings_by_week_svg(weeks: Sequence[WeekTotal]) -> SafeString:
    return columns_svg(
        [
            (f"{week.week_start:%b %d}", f"Week of {week.week_start:%b %d}", week.earned_cents)
            for week in weeks
        ],
        f"Earnings by week, last {len(weeks)} weeks (numbers in the table below)",
    )


def columns_svg(points: Sequence[tuple[str, str, int]], aria_label: str) -> SafeString:
    """One column per (short label, long label, cents); negative amounts draw as zero."""
    top = _nice_top(max((max(cents, 0) for _, _, cents in points), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (
                LEFT,
                WIDTH - RIGHT,
                f"{TOP + plot_h - plot_h * i / 4:.1f}",
                f"{TOP + plot_h - plot_h * i / 4:.1f}",
                LEFT - 6,
                f"{TOP + plot_h - plot_h * i / 4 + 4:.1f}",
                format_cents(top * i // 4),
            )
            for i in range(5)
        ),
    )
    bars = format_html_join(
        "",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (
                f"{LEFT + slot * index + slot * 0.15:.1f}",
                f"{TOP + plot_h - plot_h * max(cents, 0) / top:.1f}",
                f"{slot * 0.7:.1f}",
                f"{plot_h * max(cents, 0) / top:.1f}",
                long_label,
                format_cents(cents),
                f"{LEFT + slot * index + slot / 2:.1f}",
                HEIGHT - 12,
                short_label,
            )
            for index, (short_label, long_label, cents) in enumerate(points)
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        '<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}{}</svg>',
        WIDTH,
        HEIGHT,
        aria_label,
        LEFT,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
        grid,
        bars,
    )


ROW_H, LABEL_W, AMOUNT_W = 28, 200, 90


def hbars_svg(rows: Sequence[tuple[str, int]], aria_label: str) -> SafeString:
    """One bar per (label, cents), one row each: the label on the left, the amount on the right,
    so long names never overlap (they are cut at 30 characters; the table has them whole)."""
    top = _nice_top(max((max(cents, 0) for _, cents in rows), default=0))
    plot_w = WIDTH - LABEL_W - AMOUNT_W
    height = ROW_H * max(len(rows), 1) + 8
    bars = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
        '<text x="{}" y="{}">{}</text>',
        (
            (
                LABEL_W - 8,
                ROW_H * index + 22,
                label if len(label) <= 30 else label[:29] + "…",
                LABEL_W,
                ROW_H * index + 8,
                f"{plot_w * max(cents, 0) / top:.1f}",
                ROW_H - 10,
                label,
                format_cents(cents),
                f"{LABEL_W + plot_w * max(cents, 0) / top + 6:.1f}",
                ROW_H * index + 22,
                format_cents(cents),
            )
            for index, (label, cents) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "{}</svg>",
        WIDTH,
        height,
        aria_label,
        bars,
    )
