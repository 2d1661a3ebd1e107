"""Forms only parse and validate input; the rules live in experts.services."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from experts.matching import timezone_names
from experts.models import Credential, GoldenItem, Specialization
from marketplace.formfields import TextField

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


def minutes_to_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def specialization_choices(*, top_level_only: bool = False) -> list[tuple[str, str]]:
    qs = Specialization.objects.order_by("slug")
    if top_level_only:
        qs = qs.filter(parent__isnull=True)
    return [(s.slug, f"{'— ' if s.parent_id else ''}{s.name}") for s in qs]


class ProfileBasicsForm(forms.Form):
    display_name = TextField(label="Display name", max_length=120)
    headline = TextField(
        label="Headline",
        max_length=200,
        required=False,
        help_text="One line, e.g. “Radiologist, 12 years”.",
    )
    bio = TextField(
        label="Bio",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown. Links and formatting are kept; HTML is removed.",
    )
    languages = TextField(
        label="Languages",
        required=False,
        help_text="Language codes you review in, separated by commas: en, de, es.",
    )
    hourly_rate = forms.DecimalField(
        label="Hourly rate (USD)",
        required=False,
        min_value=Decimal("10"),
        max_value=Decimal("1000"),
        decimal_places=2,
        help_text="Between $10 and $1,000 an hour. Companies pay this plus the platform fee.",
    )
    timezone = forms.ChoiceField(
        label="Time zone", help_text="Your availability below is in this time zone."
    )
    max_concurrent = forms.IntegerField(
        label="Most assignments at once", min_value=1, max_value=20, initial=2
    )
    accepting_work = forms.BooleanField(label="Accepting work (offers reach me)", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(z, z) for z in timezone_names()]

    def language_list(self) -> list[str]:
        return [p for p in self.cleaned_data.get("languages", "").split(",") if p.strip()]

    def rate_cents(self) -> int | None:
        rate = self.cleaned_data.get("hourly_rate")
        return None if rate is None else int((rate * 100).to_integral_value())


class SpecializationForm(forms.Form):
    specialization = forms.ChoiceField(label="Specialization")
    years = forms.IntegerField(label="Years of experience", min_value=0, max_value=70, initial=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = specialization_choices()


class AvailabilityForm(forms.Form):
    """One text field a weekday: "09:00-12:00, 13:00-17:30" (local time; empty = not working)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for index, name in enumerate(WEEKDAYS):
            self.fields[f"day_{index}"] = TextField(
                label=name,
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "09:00-12:00, 13:00-17:00"}),
            )

    @staticmethod
    def initial_from(windows) -> dict[str, str]:
        days: dict[str, list[str]] = {f"day_{d}": [] for d in range(7)}
        for w in windows:
            end = "24:00" if w.end_minute == 1440 else minutes_to_hhmm(w.end_minute)
            days[f"day_{w.weekday}"].append(f"{minutes_to_hhmm(w.start_minute)}-{end}")
        return {k: ", ".join(v) for k, v in days.items()}

    def clean(self):
        cleaned = super().clean()
        windows: list[tuple[int, int, int]] = []
        for index in range(7):
            name = f"day_{index}"
            text = cleaned.get(name) or ""
            for part in [p for p in text.split(",") if p.strip()]:
                match = _SPAN.match(part)
                if not match:
                    self.add_error(name, f"“{part.strip()}” is not a range like 09:00-12:30.")
                    break
                h1, m1, h2, m2 = (int(g) for g in match.groups())
                start, end = h1 * 60 + m1, h2 * 60 + m2
                if m1 > 59 or m2 > 59 or start > 1439 or end > 1440:
                    self.add_error(name, f"“{part.strip()}” is not a time of day.")
                    break
                if end <= start:
                    self.add_error(name, f"“{part.strip()}” ends before it starts.")
                    break
                windows.append((index, start, end))
        cleaned["windows"] = windows
        return cleaned


class TimeOffForm(forms.Form):
    start_date = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(label="Last day", widget=forms.DateInput(attrs={"type": "date"}))
    note = TextField(label="Note", max_length=200, required=False)


class CredentialForm(forms.Form):
    kind = forms.ChoiceField(label="Type", choices=Credential.Kind.choices)
    field = forms.ChoiceField(label="Field it proves")
    issuer = TextField(label="Issuer", max_length=200)
    number = TextField(label="License or certificate number", max_length=100, required=False)
    jurisdiction = TextField(label="Jurisdiction", max_length=100, required=False)
    expires_on = forms.DateField(
        label="Expires on", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    document = forms.FileField(
        label="Document",
        help_text="PDF, PNG or JPEG, at most 5 MB. Only you and the platform's operators see it.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = specialization_choices(top_level_only=True)


class CredentialRejectForm(forms.Form):
    reason = TextField(
        label="Reason (sent to the expert)",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PauseLiftForm(forms.Form):
    """An operator's reason for lifting an expert's pause (one form per paused standing on the
    console page: `auto_id` keeps their ids apart)."""

    reason = TextField(
        label="Why lift the pause (the expert reads it)",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DirectoryFilterForm(forms.Form):
    specialization = forms.ChoiceField(label="Specialization", required=False)
    min_rate = forms.IntegerField(label="Rate from ($/h)", required=False, min_value=0)
    max_rate = forms.IntegerField(label="Rate up to ($/h)", required=False, min_value=0)
    language = TextField(label="Language code", required=False, max_length=3)
    verified = forms.BooleanField(label="Verified credentials only", required=False)
    available = forms.BooleanField(label="Available now", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = [("", "Any"), *specialization_choices()]


class CredentialQueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("pending", "Pending review"),
            ("verified", "Verified"),
            ("rejected", "Rejected"),
            ("", "All"),
        ],
    )
    field = forms.ChoiceField(label="Field", required=False)
    q = TextField(label="Search", required=False, max_length=100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", "Any"), *specialization_choices(top_level_only=True)]


# Proven experts (issue #20): golden items and qualification tests --------------------------

_RUBRIC_LINE = re.compile(r"^\s*([A-Za-z0-9_.-]{1,50})\s*:\s*(\d{1,2})\s*/\s*(\d{1,2})\s*$")


def parse_rubric_lines(text: str) -> tuple[list[dict], dict[str, int]]:
    """Lines `criterion: expected/scale` (e.g. `accuracy: 4/5`) -> (rubric, expected scores)."""
    rubric: list[dict] = []
    expected: dict[str, int] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = _RUBRIC_LINE.match(line)
        if match is None:
            raise forms.ValidationError(f"Line {number}: write it as “criterion: 4/5”.")
        key, value, scale = match.group(1), int(match.group(2)), int(match.group(3))
        if not 2 <= scale <= 10 or not 1 <= value <= scale:
            raise forms.ValidationError(
                f"Line {number}: the scale runs from 2 to 10 and the expected score from 1 to it."
            )
        if key in expected:
            raise forms.ValidationError(f"Line {number}: {key} is listed twice.")
        rubric.append({"key": key, "label": key.replace("_", " ").capitalize(), "scale": scale})
        expected[key] = value
    return rubric, expected


class GoldenItemForm(forms.Form):
    specialization = forms.ChoiceField(label="Specialization")
    title = TextField(label="Title", max_length=200)
    content_type = forms.ChoiceField(
        label="Content type",
        choices=[("text", "Text"), ("markdown", "Markdown"), ("code", "Code"), ("json", "JSON")],
    )
    body = TextField(
        label="AI output to review", max_length=100_000, widget=forms.Textarea(attrs={"rows": 8})
    )
    prompt = TextField(
        label="Prompt", required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 3})
    )
    guidelines = TextField(
        label="Guidelines",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    expected_verdict = forms.ChoiceField(
        label="Expected verdict",
        required=False,
        choices=[("", "Any verdict"), *GoldenItem.Verdict.choices],
    )
    rubric_lines = TextField(
        label="Rubric and expected scores",
        required=False,
        max_length=2_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One criterion a line: “accuracy: 4/5” (expected 4 on a scale of 5).",
    )
    tolerance = forms.DecimalField(
        label="Tolerance (points)", min_value=Decimal(0), max_value=Decimal(9), initial=0
    )
    max_hours = forms.DecimalField(
        label="Time cap (hours)",
        min_value=Decimal("0.1"),
        max_value=Decimal(8),
        decimal_places=2,
        initial=Decimal("0.5"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = specialization_choices()

    def clean_rubric_lines(self):
        return parse_rubric_lines(self.cleaned_data.get("rubric_lines") or "")

    def item_fields(self) -> dict:
        data = self.cleaned_data
        rubric, expected = data["rubric_lines"]
        return {
            "specialization": Specialization.objects.get(slug=data["specialization"]),
            "title": data["title"],
            "content_type": data["content_type"],
            "content": {"type": data["content_type"], "body": data["body"]},
            "prompt": data["prompt"] or "",
            "guidelines": data["guidelines"] or "",
            "rubric": rubric,
            "expected_scores": expected,
            "expected_verdict": data["expected_verdict"] or "",
            "tolerance": float(data["tolerance"]),
            "max_hours": data["max_hours"],
        }


class QualificationTestForm(forms.Form):
    specialization = forms.ChoiceField(label="Specialization")
    pass_threshold_percent = forms.IntegerField(
        label="Pass threshold (% right)", min_value=1, max_value=100, initial=80
    )
    live_rate_percent = forms.IntegerField(
        label="Golden items in live work (% of submitted reviews)",
        min_value=0,
        max_value=100,
        initial=10,
    )
    items = forms.MultipleChoiceField(
        label="Golden items in the test",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only the platform's active items of the chosen specialization count.",
    )

    def __init__(self, *args, item_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = specialization_choices()
        self.fields["items"].choices = list(item_choices)
