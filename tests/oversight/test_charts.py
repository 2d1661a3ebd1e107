"""The oversight page's charts: items by week as grouped bars, and the audit miss rate as a dot
with its interval per week (none for a week without audits), labels escaped."""

from __future__ import annotations

from inloop_site.company_oversight.charts import items_by_week_chart, miss_rate_chart
from oversight.stats import share


def test_a_week_without_audits_has_no_dot_and_one_with_has_its_interval():
    svg = str(miss_rate_chart(labels=["Nov 02", "Nov 09"], shares=[share(0, 0), share(2, 60)]))
    assert svg.count("<circle") == 1
    assert "Nov 09: 2 of 60 audits missed (3.3%, 95% interval 0.9% to 11.4%)" in svg
    assert 'role="img"' in svg and "aria-label=" in svg


def test_the_axis_top_covers_the_highest_interval():
    svg = str(miss_rate_chart(labels=["w"], shares=[share(1, 2)]))  # high is 90.5%
    assert ">100%</text>" in svg
    low = str(miss_rate_chart(labels=["w"], shares=[share(1, 100)]))  # high is 5.4%
    assert ">10%</text>" in low and ">100%</text>" not in low


def test_labels_are_escaped():
    svg = str(miss_rate_chart(labels=["<b>"], shares=[share(1, 3)]))
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_items_by_week_has_both_series():
    svg = str(items_by_week_chart(labels=["Nov 02", "Nov 09"], sent=[3, 0], auto=[5, 0]))
    assert "Sent to review · Nov 02: 3" in svg and "Auto-approved · Nov 02: 5" in svg
