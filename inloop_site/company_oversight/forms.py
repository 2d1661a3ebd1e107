"""The rules editor: one form per rule row, in order, and the period of the figures and the
simulator. The forms only read what was typed into the rule's stored shape; the rule itself is
checked by `oversight.rules` (the pydantic models the API uses), and each of its errors is put
back next to the field that carries it, so a rule typed here obeys exactly the rules of one sent
by API."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from marketplace.formfields import TextField
from oversight.rules import RULES_MAX, Rule, rules_dump, rules_parse

MAX_RULES = RULES_MAX
PREFIX = "rules"
OUTCOMES = [
    ("review", "Review: a human reviews it"),
    ("sample", "Sample: auto-approve, audit a share"),
    ("auto_approve", "Auto-approve"),
]
OPS = {
    "=": "eq",
    "eq": "eq",
    "in": "in",
    "exists": "exists",
    "<": "lt",
    "lt": "lt",
    ">": "gt",
    "gt": "gt",
}
METADATA_LINE = re.compile(
    r"^(?P<field>[^\s=<>]+)\s*(?P<op>=|<|>|\b(?:eq|in|exists|lt|gt)\b)\s*(?P<value>.*)$"
)
# Where an error of the pydantic rule lands: its location inside one rule -> the row's field.
ERROR_FIELD = {
    ("name",): "name",
    ("outcome",): "outcome",
    ("audit_rate",): "audit_percent",
    ("when", "confidence_lt"): "confidence_lt",
    ("when", "confidence_gte"): "confidence_gte",
    ("when", "specialization"): "specialization",
    ("when", "model"): "model",
    ("when", "metadata"): "metadata",
    ("when", "sample"): "sample_percent",
    ("review", "reviewers"): "reviewers",
    ("review", "max_hours"): "max_hours",
    ("review", "max_hourly_rate_cents"): "rate_cap",
    ("review", "deadline_hours"): "deadline_hours",
}
FIELD_NAMES = [
    "name",
    "outcome",
    "audit_percent",
    "confidence_gte",
    "confidence_lt",
    "specialization",
    "model",
    "metadata",
    "sample_percent",
    "reviewers",
    "max_hours",
    "rate_cap",
    "deadline_hours",
]


def _percent_field(label: str, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        required=False,
        min_value=0,
        max_value=100,
        decimal_places=2,
        label=label,
        help_text=help_text,
    )


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def parse_metadata(text: str) -> list[dict[str, Any]]:
    """One condition per line, `field op value`: `region in ["eu", "uk"]`, `priority > 3`,
    `reviewed_by exists`, `tier = gold` (a value that is not JSON is a string)."""
    conditions = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = METADATA_LINE.match(line)
        if match is None:
            raise forms.ValidationError(
                f"Line {number}: write field, then one of = in exists < >, then a value."
            )
        op = OPS[match["op"]]
        raw = match["value"].strip()
        if op == "exists":
            value = None
        elif not raw:
            raise forms.ValidationError(f"Line {number}: a value is needed after {match['op']}.")
        else:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        conditions.append({"field": match["field"], "op": op, "value": value})
    return conditions


def metadata_lines(conditions: list[dict[str, Any]]) -> str:
    symbols = {"eq": "=", "lt": "<", "gt": ">", "in": "in", "exists": "exists"}
    lines = []
    for condition in conditions or []:
        op = condition.get("op", "eq")
        if op == "exists":
            lines.append(f"{condition['field']} exists")
        else:
            value = json.dumps(condition.get("value"), ensure_ascii=False)
            lines.append(f"{condition['field']} {symbols.get(op, op)} {value}")
    return "\n".join(lines)


class RuleForm(forms.Form):
    name = TextField(max_length=80, label="Name")
    outcome = forms.ChoiceField(choices=OUTCOMES, label="Outcome")
    audit_percent = _percent_field("Audit share (%)", "Sample only: the share sent to review.")
    confidence_gte = forms.FloatField(required=False, label="Confidence at least")
    confidence_lt = forms.FloatField(required=False, label="Confidence below")
    specialization = forms.ChoiceField(required=False, label="Specialization (or a child)")
    model = TextField(required=False, max_length=200, label="Model")
    metadata = TextField(
        required=False,
        max_length=2000,
        label="Metadata conditions",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: field, then = in exists &lt; &gt;, then a JSON value, "
        'e.g. <code>region in ["eu", "uk"]</code>.',
    )
    sample_percent = _percent_field("Random share matched (%)", "Leave empty to match all.")
    reviewers = forms.IntegerField(required=False, label="Reviewers")
    max_hours = forms.DecimalField(required=False, decimal_places=2, label="Max hours")
    rate_cap = forms.DecimalField(required=False, decimal_places=2, label="Rate cap ($/h)")
    deadline_hours = forms.DecimalField(required=False, decimal_places=2, label="Deadline (h)")

    def __init__(self, *args, specializations: list[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = [("", "Any"), *specializations]

    def clean_metadata(self) -> list[dict[str, Any]]:
        return parse_metadata(self.cleaned_data.get("metadata") or "")

    def rule(self) -> dict[str, Any]:
        """The rule as stored (unset parts left out), for `oversight.rules.Rule` to check."""
        data = self.cleaned_data
        when = {
            "confidence_gte": data.get("confidence_gte"),
            "confidence_lt": data.get("confidence_lt"),
            "specialization": data.get("specialization") or None,
            "model": data.get("model") or None,
            "sample": None
            if data.get("sample_percent") is None
            else _float(data["sample_percent"] / 100),
        }
        when = {key: value for key, value in when.items() if value is not None}
        if data.get("metadata"):
            when["metadata"] = data["metadata"]
        review = {
            "reviewers": data.get("reviewers"),
            "max_hours": _float(data.get("max_hours")),
            "max_hourly_rate_cents": None
            if data.get("rate_cap") is None
            else int(data["rate_cap"] * 100),
            "deadline_hours": _float(data.get("deadline_hours")),
        }
        review = {key: value for key, value in review.items() if value is not None}
        rule: dict[str, Any] = {"name": data["name"], "when": when, "outcome": data["outcome"]}
        if data.get("audit_percent") is not None:
            rule["audit_rate"] = float(data["audit_percent"] / 100)
        if review:
            rule["review"] = review
        return rule


def rule_initial(rule: dict[str, Any]) -> dict[str, Any]:
    """A stored rule as the row's initial values (the inverse of RuleForm.rule)."""
    when = rule.get("when") or {}
    review = rule.get("review") or {}

    def percent(value):
        return None if value is None else round(value * 100, 2)

    return {
        "name": rule.get("name", ""),
        "outcome": rule.get("outcome", "review"),
        "audit_percent": percent(rule.get("audit_rate")) if rule.get("audit_rate") else None,
        "confidence_gte": when.get("confidence_gte"),
        "confidence_lt": when.get("confidence_lt"),
        "specialization": when.get("specialization") or "",
        "model": when.get("model") or "",
        "metadata": metadata_lines(when.get("metadata") or []),
        "sample_percent": percent(when.get("sample")),
        "reviewers": review.get("reviewers"),
        "max_hours": review.get("max_hours"),
        "rate_cap": None
        if review.get("max_hourly_rate_cents") is None
        else review["max_hourly_rate_cents"] / 100,
        "deadline_hours": review.get("deadline_hours"),
    }


class BaseRuleFormSet(forms.BaseFormSet):
    def __init__(self, *args, specializations=(), **kwargs):
        self.specializations = list(specializations)
        # Errors of the whole list (its length, a service's refusal), shown above the rows.
        self.list_errors: list[str] = []
        super().__init__(*args, prefix=PREFIX, **kwargs)

    def get_form_kwargs(self, index):
        return {"specializations": self.specializations}

    def checked_rules(self) -> list[dict[str, Any]] | None:
        """The rows as stored rules (oversight.rules.rules_dump), or None with every error on
        its row's field, or on the list. Each row is checked alone first, so every bad row shows
        its errors at once; then names, then the list (oversight.rules.rules_parse). Call after
        is_valid()."""
        rows = [form.rule() for form in self.forms]
        placed = False
        for index, row in enumerate(rows):
            try:
                Rule.model_validate(row)
            except PydanticValidationError as exc:
                placed = True
                for error in exc.errors(include_url=False):
                    self._place({**error, "loc": (index, *error["loc"])})
        names = [row["name"] for row in rows]
        for form in self.forms:
            if names.count(form.cleaned_data["name"]) > 1:
                placed = True
                form.add_error("name", "Another rule has this name: names must be unique.")
        if not rows:
            self.list_errors.append("A policy needs at least one rule.")
            return None
        if placed:
            return None
        try:
            return rules_dump(rules_parse(rows))
        except PydanticValidationError as exc:
            for error in exc.errors(include_url=False):
                self._place(error)
            return None

    def _place(self, error: dict) -> None:
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if not loc or not isinstance(loc[0], int) or loc[0] >= len(self.forms):
            self.list_errors.append(message)
            return
        form, inner = self.forms[loc[0]], loc[1:]
        for length in range(len(inner), 0, -1):
            name = ERROR_FIELD.get(tuple(str(part) for part in inner[:length]))
            if name:
                form.add_error(name, message)
                return
        form.add_error(None, message)


RuleFormSet = forms.formset_factory(
    RuleForm, formset=BaseRuleFormSet, extra=0, max_num=MAX_RULES, absolute_max=MAX_RULES
)


def rows_from_post(data) -> list[dict[str, str]]:
    """The rows as typed (strings), for add/remove/move without checking anything yet."""
    try:
        total = min(int(data.get(f"{PREFIX}-TOTAL_FORMS", 0)), MAX_RULES)
    except ValueError:
        total = 0
    return [
        {name: data.get(f"{PREFIX}-{index}-{name}", "") for name in FIELD_NAMES}
        for index in range(max(total, 0))
    ]


def rows_apply(rows: list[dict], op: str) -> list[dict]:
    """add | remove-<i> | up-<i> | down-<i>: the rows after that edit (anything else: as
    they were)."""
    rows = list(rows)
    if op == "add" and len(rows) < MAX_RULES:
        rows.append({"name": f"rule-{len(rows) + 1}", "outcome": "review"})
        return rows
    action, _, index_text = op.partition("-")
    if not index_text.isdigit() or int(index_text) >= len(rows):
        return rows
    index = int(index_text)
    if action == "remove":
        del rows[index]
    elif action == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif action == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return rows


class VersionNoteForm(forms.Form):
    note = TextField(
        required=False,
        max_length=200,
        label="What changed and why",
        help_text="Kept with the version, for whoever reads the history.",
    )


class NewPolicyForm(forms.Form):
    name = forms.SlugField(
        max_length=80,
        label="Name",
        help_text="Letters, digits, - and _; the name your pipeline sends as policy.",
    )
    starter = forms.ChoiceField(label="Start from", choices=())
    is_default = forms.BooleanField(
        required=False, label="Make it the default (used when a request names no policy)"
    )

    def __init__(self, *args, starters: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["starter"].choices = starters


class PeriodForm(forms.Form):
    """The figures' and the simulator's period, in the URL (GET) or the form (POST)."""

    from_day = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    to_day = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, default_days: int = 84, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_days = default_days

    def clean(self):
        data = super().clean()
        first, last = data.get("from_day"), data.get("to_day")
        if first and last and first > last:
            self.add_error("to_day", "The end must be on or after the start.")
        elif first and last and (last - first).days > 365:
            self.add_error("to_day", "A period is at most 366 days.")
        return data

    def period(self):
        """(first, last): what was given, else the last `default_days` days up to today."""
        today = timezone.now().date()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        last = data.get("to_day") or today
        first = data.get("from_day") or last - timedelta(days=self.default_days - 1)
        if first > last or (last - first).days > 365:
            first = last - timedelta(days=self.default_days - 1)
        return first, last
