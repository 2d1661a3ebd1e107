"""Forms of the company pages. They only validate: the new-request form turns what was typed
into the API's request body and checks it with the API's own schema, so a request made by hand
obeys exactly the rules of one made by a pipeline."""

from __future__ import annotations

import json
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from marketplace.formfields import TextField
from review_requests.models import ReviewRequest
from review_requests.webhooks import ALL_EVENT_TYPES, DELIVERY_STATUSES

PREVIEW_MAX_CHARS = 200_000
_CHAT_LINE = re.compile(r"^(user|assistant|system|tool|human|ai|model)\s*:\s?(.*)$", re.IGNORECASE)


class RequestFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *ReviewRequest.Status.choices]
    )
    q = TextField(
        required=False,
        max_length=200,
        label="Search",
        help_text="Words in the title, or a metadata value.",
    )

    def values(self) -> tuple[str, str]:
        if not self.is_bound or not self.is_valid():
            return "", ""
        return self.cleaned_data["status"], self.cleaned_data["q"]


class WebhookLogFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *DELIVERY_STATUSES.items()]
    )
    type = forms.ChoiceField(
        required=False,
        label="Event type",
        choices=[("", "Any type")] + [(t, t) for t in ALL_EVENT_TYPES],
    )
    request = forms.UUIDField(required=False, label="Request id")

    def values(self) -> dict[str, Any]:
        if not self.is_bound or not self.is_valid():
            return {"status": "", "event_type": "", "review_request_id": None}
        return {
            "status": self.cleaned_data["status"],
            "event_type": self.cleaned_data["type"],
            "review_request_id": self.cleaned_data["request"],
        }


def specialization_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped by field for a <select> with <optgroup>s: the field itself, then its subfields."""
    from experts.models import Specialization

    groups: dict[str, list[tuple[str, str]]] = {}
    names: dict[str, str] = {}
    for spec in Specialization.objects.order_by("slug").only("slug", "name"):
        top = spec.slug.split(".", 1)[0]
        if spec.slug == top:
            names[top] = spec.name
            groups.setdefault(top, []).insert(0, (spec.slug, f"{spec.name} (any subfield)"))
        else:
            groups.setdefault(top, []).append((spec.slug, spec.name))
    return [(names.get(top, top), options) for top, options in groups.items()]


def parse_chat(text: str) -> list[dict[str, str]]:
    """A JSON list of {"role", "content"}, or a transcript where each message starts with
    "role:" on a new line (continuation lines belong to the message above)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        return value
    turns: list[dict[str, str]] = []
    for line in stripped.splitlines():
        match = _CHAT_LINE.match(line)
        if match:
            turns.append({"role": match.group(1).lower(), "content": match.group(2)})
        elif turns:
            turns[-1]["content"] += "\n" + line
        elif line.strip():
            raise ValidationError(
                'Start each message with its role on a new line, e.g. "user: …" or "assistant: …".'
            )
    return turns


class RubricRowForm(forms.Form):
    key = TextField(required=False, max_length=50, label="Key")
    label = TextField(required=False, max_length=200, label="Label")
    scale = forms.IntegerField(required=False, min_value=2, max_value=10, initial=5, label="Scale")

    def row(self) -> dict[str, Any] | None:
        data = self.cleaned_data if self.is_valid() else {}
        if not data.get("key") and not data.get("label"):
            return None
        return {
            "key": data.get("key") or "",
            "label": data.get("label") or data.get("key") or "",
            "scale": data.get("scale") or 5,
        }


RubricFormSet = forms.formset_factory(RubricRowForm, extra=3, max_num=50, validate_max=True)


# Where each error of the API schema shows up on the form.
_FIELD_OF_LOC = {
    "title": "title",
    "specialization": "specialization",
    "content.type": "content_type",
    "content.body": "body",
    "content.language": "language",
    "content": "body",
    "prompt": "prompt",
    "model": "model",
    "guidelines": "guidelines",
    "max_hours": "max_hours",
    "max_hourly_rate_cents": "max_hourly_rate",
    "reviewers": "reviewers",
    "deadline": "deadline",
    "callback_url": "callback_url",
    "metadata": "metadata",
    "blind": "blind",
    "four_eyes": "four_eyes",
    "policy": "policy",
    "confidence": "confidence",
}

# The schema's words are the API's ("leave blind out"); on the form they name the controls.
_FORM_WORDING = {
    "needs at least 2 reviewers": "Four-eyes needs at least 2 reviewers.",
    "reviews are always blind with four_eyes; leave blind out": (
        "Four-eyes reviews are always blind: tick “Blind reviews” too, or untick four-eyes."
    ),
}
_SUBMISSION_KEY = re.compile(r"^[0-9a-f]{32}$")
NO_POLICY_LABEL = "None: a person reviews it"


class ReviewRequestForm(forms.Form):
    title = TextField(max_length=200)
    specialization = forms.ChoiceField(
        help_text="Only experts with this specialization are offered the request."
    )
    content_type = forms.ChoiceField(
        label="Content type", choices=ReviewRequest.ContentType.choices, initial="text"
    )
    body = TextField(
        label="AI output to review",
        max_length=PREVIEW_MAX_CHARS * 5,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text=(
            "For JSON: any JSON value. For chat: one message per line starting with its role "
            '("user: …", "assistant: …"), or a JSON list of {"role", "content"}.'
        ),
    )
    language = TextField(
        required=False,
        max_length=50,
        label="Language",
        help_text="For code: e.g. python, sql, typescript.",
        widget=forms.TextInput(attrs={"data-show-when": "content_type=code"}),
    )
    prompt = TextField(
        required=False,
        label="Prompt",
        help_text="The input that produced the output.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    model = TextField(required=False, max_length=200, label="Model")
    guidelines = TextField(
        required=False,
        label="Guidelines",
        help_text="Markdown: what the reviewer must check.",
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    max_hours = forms.DecimalField(
        label="Maximum hours per reviewer",
        min_value=Decimal("0.25"),
        max_value=Decimal(40),
        decimal_places=2,
        initial=Decimal("1.00"),
        widget=forms.NumberInput(attrs={"step": "0.25"}),
        help_text="The most you pay for, per reviewer: 0.25 to 40.",
    )
    max_hourly_rate = forms.DecimalField(
        required=False,
        label="Maximum hourly rate (USD)",
        min_value=Decimal("0.01"),
        max_value=Decimal(100_000),
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Only experts at or below this rate are matched.",
    )
    reviewers = forms.IntegerField(
        min_value=1,
        max_value=5,
        initial=1,
        help_text="Independent reviews wanted; several give a consensus.",
    )
    blind = forms.BooleanField(
        required=False,
        initial=True,
        label="Blind reviews",
        help_text="With several reviewers: none sees another's work until all have submitted.",
    )
    four_eyes = forms.BooleanField(
        required=False,
        label="Four-eyes",
        help_text="At least 2 reviewers must agree on the verdict, or one more expert, the "
        "adjudicator, decides (billed like any review). Always blind.",
    )
    policy = forms.ChoiceField(
        required=False,
        label="Oversight policy",
        error_messages={"invalid_choice": "Choose one of your organization's policies."},
    )
    confidence = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Model confidence",
        help_text="0 to 1: the model's confidence in this output, for the policy's rules.",
    )
    deadline = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="In your time zone.",
    )
    timezone = TextField(required=False, widget=forms.HiddenInput, max_length=64)
    callback_url = TextField(
        required=False,
        max_length=2000,
        label="Callback URL",
        help_text="https:// — receives signed webhook events for this request.",
        widget=forms.URLInput,
    )
    metadata = TextField(
        required=False,
        label="Metadata (JSON object)",
        help_text='Echoed back in results and exports, e.g. {"batch": "2024-06", "id": 42}.',
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    # One key per filled-in form: a second submit of the same form (a reload, a double click,
    # the back button) gives back the request the first one made.
    submission = TextField(required=False, widget=forms.HiddenInput, max_length=64)

    rubric_formset = None

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialization"].choices = [("", "Choose…"), *specialization_choices()]
        self.fields["submission"].initial = uuid.uuid4().hex
        self._policy_choices(organization)
        self.api_data: dict[str, Any] = {}

    def _policy_choices(self, organization) -> None:
        """The organization's policies, its default first chosen; "None" always offered (the
        request is then reviewed, as in the API without a policy)."""
        from oversight.selectors import policy_list

        policies = policy_list(organization=organization) if organization is not None else []
        field = self.fields["policy"]
        field.choices = [
            (p.name, f"{p.name} (default)" if p.is_default else p.name) for p in policies
        ] + [("", NO_POLICY_LABEL)]
        field.initial = next((p.name for p in policies if p.is_default), "")
        self.has_policies = bool(policies)
        url = reverse("oversight_policies")
        if policies:
            field.help_text = format_html(
                "Decides whether a person reviews it: auto-approved (no charge), sampled for "
                'audit, or reviewed. <a href="{}">Oversight policies</a>',
                url,
            )
        else:
            field.help_text = format_html(
                'Your organization has no oversight policy: <a href="{}">set one up</a> to let '
                "rules decide which outputs a person reviews.",
                url,
            )

    def clean_submission(self) -> str:
        value = self.cleaned_data.get("submission") or ""
        if not value:
            return uuid.uuid4().hex  # a script posting without one: a new submission each time
        if not _SUBMISSION_KEY.match(value):
            raise ValidationError("This form is out of date: reload the page and submit again.")
        return value

    def submission_key(self) -> str:
        return self.cleaned_data["submission"]

    def submission_renew(self, message: str) -> None:
        """After a refused second submit of the same form: say why, and give the re-shown form
        a fresh key so that submitting it again sends a new request."""
        self.data = self.data.copy()
        self.data[self.add_prefix("submission")] = uuid.uuid4().hex
        self.add_error(None, message)

    def _content(self, data: dict[str, Any]) -> dict[str, Any]:
        kind = data.get("content_type")
        body_text = data.get("body") or ""
        content: dict[str, Any] = {"type": kind}
        if kind == "json":
            try:
                content["body"] = json.loads(body_text)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    {"body": f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."}
                ) from exc
        elif kind == "chat":
            try:
                content["body"] = parse_chat(body_text)
            except ValidationError as exc:
                raise ValidationError({"body": exc.messages}) from exc
        else:
            content["body"] = body_text
        if kind == "code" and data.get("language"):
            content["language"] = data["language"].strip()
        return content

    def _deadline(self, data: dict[str, Any]):
        deadline = data.get("deadline")
        name = (data.get("timezone") or "").strip()
        if deadline is None or not name:
            return deadline
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return deadline
        # The field read the wall time in the server's zone; re-read it in the viewer's.
        return timezone.make_aware(timezone.make_naive(deadline), zone)

    def _metadata(self, data: dict[str, Any]):
        text = (data.get("metadata") or "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError({"metadata": f"Not valid JSON: {exc.msg}."}) from exc
        if not isinstance(value, dict):
            raise ValidationError({"metadata": "Must be a JSON object ({…})."})
        return value

    def _rubric(self) -> list[dict[str, Any]] | None:
        formset = self.rubric_formset
        if formset is None:
            return None
        if not formset.is_valid():
            raise ValidationError("Check the rubric rows below.")
        rows = [row for row in (form.row() for form in formset.forms) if row is not None]
        return rows or None

    def _payload(self, data: dict[str, Any]) -> dict[str, Any]:
        """The API's request body from what was typed; values the form refused are left out
        (the schema's "required" for them is not shown: the field has its own error)."""
        rate = data.get("max_hourly_rate")
        reviewers = data.get("reviewers")
        max_hours = data.get("max_hours")
        payload: dict[str, Any] = {
            "title": data.get("title"),
            "specialization": data.get("specialization") or None,
            "prompt": data.get("prompt") or None,
            "model": data.get("model") or None,
            "guidelines": data.get("guidelines") or None,
            "max_hours": float(max_hours) if max_hours is not None else None,
            "max_hourly_rate_cents": int((rate * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if rate is not None
            else None,
            "reviewers": reviewers,
            # Blind means something only with several reviewers; with one the API's default.
            "blind": data.get("blind") if reviewers is not None and reviewers > 1 else None,
            "four_eyes": data.get("four_eyes") or None,
            "deadline": self._deadline(data),
            "callback_url": (data.get("callback_url") or "").strip() or None,
            "policy": data.get("policy") or None,
            "confidence": data.get("confidence"),
        }
        builders = (
            ("content", self._content, {"content_type", "body", "language"}),
            ("metadata", self._metadata, {"metadata"}),
            ("rubric", lambda _data: self._rubric(), set()),
        )
        for name, build, sources in builders:
            if sources & set(self.errors):
                continue
            try:
                payload[name] = build(data)
            except ValidationError as exc:
                self.add_error(None, exc)
        return {name: value for name, value in payload.items() if value is not None}

    def clean(self):
        """Every error at once: the form's own, then the API schema's on the fields the form
        accepted, so a request made by hand obeys exactly the API's rules."""
        data = super().clean()
        payload = self._payload(data)
        from pydantic import ValidationError as SchemaError

        from review_requests.schemas import ReviewRequestIn

        try:
            validated = ReviewRequestIn.model_validate(payload)
        except SchemaError as exc:
            for error in exc.errors():
                # "Field required": a value the form refused (its own error says why).
                if error.get("type") != "missing":
                    self._add_schema_error(error)
            if not self.errors:
                self.add_error(None, "Check the fields above.")
            return data
        if not self.errors:
            self.api_data = validated.model_dump()
        return data

    def _add_schema_error(self, error: dict[str, Any]) -> None:
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
        message = _FORM_WORDING.get(message, message)
        if loc and loc[0] == "rubric":
            where = f"row {int(loc[1]) + 1}: " if len(loc) > 1 and loc[1].isdigit() else ""
            self.add_error(None, f"Rubric {where}{message}")
            return
        field = None
        for depth in (2, 1):
            field = _FIELD_OF_LOC.get(".".join(loc[:depth]))
            if field:
                break
        if field and field not in self.errors:
            self.add_error(field, message)
        elif not field:
            self.add_error(None, message)

    def add_api_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, exc.messages)


class EstimateForm(forms.Form):
    """The cost-relevant fields of the new-request form, as the page sends them while the company
    types (GET /company/requests/estimate.json)."""

    specialization = TextField(max_length=200)
    max_hours = forms.DecimalField(min_value=Decimal("0.25"), max_value=Decimal(40))
    max_hourly_rate = forms.DecimalField(
        required=False, min_value=Decimal("0.01"), max_value=Decimal(100_000), decimal_places=2
    )
    reviewers = forms.IntegerField(min_value=1, max_value=5)

    def max_rate_cents(self) -> int | None:
        rate = self.cleaned_data.get("max_hourly_rate")
        if rate is None:
            return None
        return int((rate * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
