"""The expert's earnings-by-week chart: an inline SVG drawn on the server (no JavaScript), always
shown next to a table of the same numbers."""

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
    top = _nice_top(max((week.earned_cents for week in weeks), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(weeks), 1)
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
                f"{TOP + plot_h - plot_h * week.earned_cents / top:.1f}",
                f"{slot * 0.7:.1f}",
                f"{plot_h * week.earned_cents / top:.1f}",
                f"Week of {week.week_start:%b %d}",
                format_cents(week.earned_cents),
                f"{LEFT + slot * index + slot / 2:.1f}",
                HEIGHT - 12,
                f"{week.week_start:%b %d}",
            )
            for index, week in enumerate(weeks)
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        '<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}{}</svg>',
        WIDTH,
        HEIGHT,
        f"Earnings by week, last {len(weeks)} weeks (numbers in the table below)",
        LEFT,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
        grid,
        bars,
    )
