"""The oversight page's charts, inline SVG drawn on the server like the console's and billing's
(no JavaScript); the template puts the same numbers in a table under each.

Items by week are the console's grouped bars. The audit miss rate by week is drawn here: a dot at
the measured share and a whisker over its Wilson 95% interval, so a week with 1 audit (a long
whisker) does not read like a week with 200; a week without audits has no dot."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from marketplace.charts import Series, column_chart
from oversight.stats import Share

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 32


def items_by_week_chart(*, labels: Sequence[str], sent: Sequence[int], auto: Sequence[int]):
    return column_chart(
        title="Items by week: sent to review and auto-approved (numbers in the table below)",
        labels=labels,
        series=[Series("Sent to review", sent), Series("Auto-approved", auto)],
    )


def _top_percent(shares: Sequence[Share]) -> float:
    """A round top for the axis, in percent: the highest interval end, at least 10%."""
    highest = max((s.high for s in shares if s.high is not None), default=0.0) * 100
    for top in (10, 20, 50, 100):
        if highest <= top:
            return float(top)
    return 100.0


def miss_rate_chart(*, labels: Sequence[str], shares: Sequence[Share]) -> SafeString:
    """One dot and whisker per week: the audit miss share and its 95% interval."""
    top = _top_percent(shares)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)

    def y(share: float) -> str:
        return f"{TOP + plot_h - plot_h * min(share * 100, top) / top:.1f}"

    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text x="{}" y="{}" text-anchor="end">{}%</text>',
        (
            (LEFT, WIDTH - RIGHT, y(top * i / 400), y(top * i / 400), LEFT - 6,
             f"{float(y(top * i / 400)) + 4:.1f}", f"{top * i / 4:g}")
            for i in range(5)
        ),
    )  # fmt: skip
    marks = format_html_join(
        "",
        '<g class="interval"><title>{}: {} of {} audits missed ({}, 95% interval {} to {})</title>'
        '<line class="whisker" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<circle class="dot" cx="{}" cy="{}" r="4"/></g>',
        (
            (label, s.successes, s.n, _pct(s.rate), _pct(s.low), _pct(s.high),
             f"{LEFT + slot * i + slot / 2:.1f}", f"{LEFT + slot * i + slot / 2:.1f}",
             y(s.low), y(s.high), f"{LEFT + slot * i + slot / 2:.1f}", y(s.rate))
            for i, (label, s) in enumerate(zip(labels, shares, strict=True))
            if s.rate is not None
        ),
    )  # fmt: skip
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (f"{LEFT + slot * i + slot / 2:.1f}", HEIGHT - 12, label)
            for i, label in enumerate(labels)
        ),
    )
    return format_html(
        '<figure class="chart"><svg viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<title>{}</title>{}<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}{}</svg></figure>',
        WIDTH, HEIGHT, MISS_TITLE, MISS_TITLE, grid, LEFT, WIDTH - RIGHT, TOP + plot_h,
        TOP + plot_h, marks, ticks,
    )  # fmt: skip


MISS_TITLE = (
    "Audit miss rate by week: the share of audited items reviewers rejected or corrected, "
    "with its 95% interval (numbers in the table below)"
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
