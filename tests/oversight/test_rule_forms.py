"""The rules editor's pieces: metadata lines read into conditions and back, and the rows'
add/remove/move edits."""

from __future__ import annotations

import pytest
from django import forms

from inloop_site.company_oversight.forms import (
    RuleFormSet,
    metadata_lines,
    parse_metadata,
    rows_apply,
    rule_initial,
)


def test_metadata_lines_read_as_conditions():
    text = 'region in ["eu", "uk"]\npriority > 3\n\nvip exists\ntier = gold\nscore lt 0.5'
    assert parse_metadata(text) == [
        {"field": "region", "op": "in", "value": ["eu", "uk"]},
        {"field": "priority", "op": "gt", "value": 3},
        {"field": "vip", "op": "exists", "value": None},
        {"field": "tier", "op": "eq", "value": "gold"},  # not JSON: a string
        {"field": "score", "op": "lt", "value": 0.5},
    ]


@pytest.mark.parametrize("line", ["region", "tier =", "= gold"])
def test_a_line_without_an_operator_or_value_is_refused(line):
    with pytest.raises(forms.ValidationError):
        parse_metadata(line)


def test_conditions_write_back_as_the_lines_they_came_from():
    conditions = parse_metadata('region in ["eu", "uk"]\nvip exists\npriority > 3')
    assert parse_metadata(metadata_lines(conditions)) == conditions


def test_a_stored_rule_fills_its_row():
    row = rule_initial(
        {
            "name": "sure",
            "when": {"confidence_gte": 0.9, "sample": 0.25, "metadata": []},
            "outcome": "sample",
            "audit_rate": 0.05,
            "review": {"max_hourly_rate_cents": 12000, "reviewers": 2},
        }
    )
    assert row["audit_percent"] == 5 and row["sample_percent"] == 25
    assert row["rate_cap"] == 120 and row["reviewers"] == 2 and row["metadata"] == ""


ROWS = [{"name": "a"}, {"name": "b"}, {"name": "c"}]


@pytest.mark.parametrize(
    ("op", "names"),
    [
        ("up-1", ["b", "a", "c"]),
        ("down-1", ["a", "c", "b"]),
        ("up-0", ["a", "b", "c"]),  # already first
        ("down-2", ["a", "b", "c"]),  # already last
        ("remove-0", ["b", "c"]),
        ("remove-9", ["a", "b", "c"]),  # no such row
        ("add", ["a", "b", "c", "rule-4"]),
        ("anything", ["a", "b", "c"]),
    ],
)
def test_row_edits(op, names):
    assert [row["name"] for row in rows_apply(ROWS, op)] == names


FIELDS = [
    "name", "outcome", "audit_percent", "confidence_gte", "confidence_lt", "specialization",
    "model", "metadata", "sample_percent", "reviewers", "max_hours", "rate_cap", "deadline_hours",
]  # fmt: skip


def _bound(*rows: dict):
    data = {"rules-TOTAL_FORMS": str(len(rows)), "rules-INITIAL_FORMS": "0"}
    for index, row in enumerate(rows):
        for field in FIELDS:
            data[f"rules-{index}-{field}"] = row.get(field, "")
    return RuleFormSet(data, specializations=[("law", "Law (law)")])


def _checked(formset):
    assert formset.is_valid(), formset.errors
    return formset.checked_rules()


def test_rows_become_stored_rules():
    formset = _bound(
        {"name": "eu", "outcome": "sample", "audit_percent": "12.5", "confidence_gte": "0.9",
         "specialization": "law", "metadata": 'region in ["eu"]', "sample_percent": "50"},
        {"name": "rest", "outcome": "review", "reviewers": "2", "rate_cap": "150",
         "max_hours": "1.5", "deadline_hours": "24"},
    )  # fmt: skip
    first, second = _checked(formset)
    assert first["when"]["confidence_gte"] == 0.9 and first["when"]["sample"] == 0.5
    assert first["when"]["specialization"] == "law" and first["audit_rate"] == 0.125
    assert first["when"]["metadata"] == [{"field": "region", "op": "in", "value": ["eu"]}]
    assert second["review"] == {
        "reviewers": 2, "max_hours": 1.5, "max_hourly_rate_cents": 15000, "deadline_hours": 24.0
    }  # fmt: skip


def test_each_rule_error_lands_on_its_rows_field():
    formset = _bound(
        {"name": "ok", "outcome": "review"},
        {"name": "bad", "outcome": "review", "confidence_lt": "2", "reviewers": "9"},
        {"name": "worse", "outcome": "auto_approve", "audit_percent": "10"},
    )
    assert _checked(formset) is None
    ok, bad, worse = formset.forms
    assert not ok.errors
    assert set(bad.errors) == {"confidence_lt", "reviewers"}
    # A rule-level refusal (audit only for samples) belongs to the row, not to one field.
    assert "__all__" in worse.errors and "audit_rate" in str(worse.errors)


def test_a_metadata_condition_the_rules_refuse_is_on_the_metadata_field():
    formset = _bound({"name": "m", "outcome": "review", "metadata": "priority > high"})
    assert _checked(formset) is None
    assert "metadata" in formset.forms[0].errors


def test_no_rows_is_an_error_of_the_list():
    formset = _bound()
    assert _checked(formset) is None
    assert formset.list_errors == ["A policy needs at least one rule."]
