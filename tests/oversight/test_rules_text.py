"""oversight.rules_text: rules in words, and what changed between two versions."""

from __future__ import annotations

from oversight.rules_text import rule_text, rules_diff

CONFIDENT = {
    "name": "confident",
    "when": {"confidence_gte": 0.92},
    "outcome": "sample",
    "audit_rate": 0.05,
}
REST = {
    "name": "rest",
    "when": {},
    "outcome": "review",
    "review": {"reviewers": 2, "max_hourly_rate_cents": 15000},
}


def test_a_rule_reads_as_conditions_then_outcome():
    assert rule_text(CONFIDENT) == "confidence at least 0.92 → sample, 5% audited"
    assert rule_text(REST) == "every item → review (2 reviewers, rate cap $150.00/h)"
    assert (
        rule_text(
            {
                "name": "eu",
                "when": {
                    "specialization": "law",
                    "metadata": [
                        {"field": "region", "op": "in", "value": ["eu", "uk"]},
                        {"field": "vip", "op": "exists"},
                    ],
                    "sample": 0.1,
                },
                "outcome": "auto_approve",
            }
        )
        == 'specialization law and region in ["eu", "uk"] and vip exists and a random 10% of '
        "items → auto-approve"
    )


def test_the_same_rules_have_no_difference():
    assert rules_diff([CONFIDENT, REST], [dict(CONFIDENT), dict(REST)]) == []


def test_a_changed_threshold_and_audit_rate_read_as_old_to_new():
    lowered = {**CONFIDENT, "when": {"confidence_gte": 0.85}, "audit_rate": 0.1}
    assert rules_diff([CONFIDENT, REST], [lowered, REST]) == [
        "“confident”: confidence at least 0.92 → 0.85; audit rate 5% → 10%."
    ]


def test_added_removed_and_reordered_rules_are_named():
    new = {"name": "cheap", "when": {"model": "mini"}, "outcome": "auto_approve"}
    changes = rules_diff([CONFIDENT, REST], [REST, new])
    assert changes == [
        "Added rule 2 “cheap”: model mini → auto-approve.",
        "Removed rule “confident”: confidence at least 0.92 → sample, 5% audited.",
    ]
    assert rules_diff([CONFIDENT, REST], [REST, CONFIDENT]) == [
        "Order changed: confident, rest → rest, confident."
    ]


def test_an_unset_field_reads_as_a_dash():
    capped = {**REST, "review": {"reviewers": 2}}
    assert rules_diff([REST], [capped]) == ["“rest”: rate cap $150.00/h → —."]
