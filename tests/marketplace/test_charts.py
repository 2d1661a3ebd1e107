"""marketplace.charts, the one chart module of every page (billing's spend and earnings, the
console's queue, money, supply and disputes): escaped labels, round grids, one row per horizontal
bar whatever the names, and the three pages drawing with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketplace import charts

ROOT = Path(__file__).resolve().parents[2]


def test_hbars_put_each_label_on_its_own_row_cut_with_the_whole_name_on_hover():
    long_name = "Pharmacology and clinical toxicology of rare poisons"
    svg = charts.hbar_chart(
        title="Experts <by> field",
        rows=[(long_name, 12), ("Law", 3), ("<b>", 0)],
    )
    labels = re.findall(r'<text x="192" y="(\d+)" text-anchor="end">([^<]*)</text>', svg)
    assert [int(y) for y, _ in labels] == [22, 50, 78]  # one 28-px row each: no overlap
    assert labels[0][1] == long_name[:29] + "…"
    assert f"<title>{long_name}: 12</title>" in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert 'aria-label="Experts &lt;by&gt; field"' in svg
    assert 'viewBox="0 0 640 92"' in svg


def test_hbar_widths_scale_to_a_round_maximum_and_money_reads_as_money():
    svg = charts.hbar_chart(
        title="Spend", rows=[("Radiology", 28_250), ("Law", 0)], format_value=charts.money_label
    )
    widths = [
        float(w) for w in re.findall(r'<rect class="bar" x="200" y="\d+" width="([\d.]+)"', svg)
    ]
    assert widths == [pytest.approx(350 * 28_250 / 50_000, abs=0.1), 0.0]
    assert ">$282.50<" in svg


def test_columns_name_each_column_with_its_long_label_and_value():
    svg = charts.column_chart(
        title="Earnings by week",
        labels=["Nov 02"],
        long_labels=["Week of Nov 02"],
        series=[charts.Series("Earned", [1_250])],
        format_value=charts.money_label,
    )
    assert "<title>Week of Nov 02: $12.50</title>" in svg
    axis = re.findall(r'text-anchor="end">([^<]*)<', svg)
    assert axis[0] == "$0.00" and axis[-1] == "$20.00"


def test_several_series_say_their_name_in_each_tooltip():
    svg = charts.column_chart(
        title="Money",
        labels=["w1"],
        series=[charts.Series("Funding", [100]), charts.Series("Fees", [5])],
    )
    assert "<title>Funding · w1: 100</title>" in svg and "<title>Fees · w1: 5</title>" in svg


def test_no_page_draws_a_chart_of_its_own():
    """The chart helpers live in marketplace.charts only; no template draws bars itself."""
    assert not (ROOT / "billing" / "charts.py").exists()
    assert not (ROOT / "inloop_site" / "console" / "charts.py").exists()
    for template in (ROOT / "templates").rglob("*.html"):
        assert "<rect" not in template.read_text(), template
    users = [
        path.relative_to(ROOT).as_posix()
        for app in ("marketplace", "experts", "billing", "review_requests", "inloop_site")
        for path in (ROOT / app).rglob("views.py")
        if "from marketplace import charts" in path.read_text()
    ]
    assert sorted(users) == ["billing/views.py", "inloop_site/console/views.py"]
