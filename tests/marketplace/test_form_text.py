"""Every text field of every form goes through marketplace.textnorm (marketplace.formfields.
TextField): NFC, LF line ends, line breaks and tabs only in textareas, control characters and
NUL refused as a form error on that field, nothing saved. Discovered, so a new form with a plain
CharField fails here."""

from __future__ import annotations

import importlib
import unicodedata

import pytest
from django import forms

from marketplace.formfields import TextField
from marketplace.models import ApiKey
from tests.conftest import login_client

FORM_MODULES = [
    "marketplace.forms",
    "inloop_site.console.forms",
    "experts.forms",
    "billing.forms",
    "review_requests.forms",
    "review_requests.dispute_views",
    "inloop_site.company_oversight.forms",
]
# Constructor arguments of the forms that need some.
ARGS = {
    "InvitationSignupForm": {"email": "new@acme.test"},
    "NewPolicyForm": {"starters": [("in_the_loop", "In the loop")]},
}


def _forms() -> list[type[forms.BaseForm]]:
    found = []
    for name in FORM_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def _text_fields(form_class) -> dict[str, forms.Field]:
    form = form_class(**ARGS.get(form_class.__name__, {}))  # dynamic fields included
    return {
        name: field
        for name, field in form.fields.items()
        # Subclasses of CharField that parse (email, UUID, URL, slug) refuse these themselves.
        if type(field) in (forms.CharField, TextField)
        and not isinstance(field.widget, forms.PasswordInput)
    }


@pytest.mark.django_db
def test_every_text_field_of_every_form_is_a_text_field():
    plain = [
        f"{form_class.__name__}.{name}"
        for form_class in _forms()
        for name, field in _text_fields(form_class).items()
        if not isinstance(field, TextField)
    ]
    assert len(_forms()) >= 20  # the discovery found the forms
    assert plain == []


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a\u0000b", "a\u0007b", "a\u009fb"])
def test_every_text_field_refuses_control_characters(bad):
    checked = 0
    for form_class in _forms():
        for name in _text_fields(form_class):
            form = form_class(data={name: bad}, **ARGS.get(form_class.__name__, {}))
            form.is_valid()
            assert name in form.errors, f"{form_class.__name__}.{name}"
            assert "control character" in str(form.errors[name]) or "NUL" in str(form.errors[name])
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("field", "value", "cleaned"),
    [
        (TextField(), unicodedata.normalize("NFD", "Zoë"), "Zoë"),
        (TextField(widget=forms.Textarea), "one\r\ntwo\rthree\tfour", "one\ntwo\nthree\tfour"),
        (TextField(strip=False, widget=forms.Textarea), "  keep\n", "  keep\n"),
    ],
)
def test_text_is_cleaned_to_nfc_and_lf(field, value, cleaned):
    assert field.clean(value) == cleaned


@pytest.mark.parametrize("value", ["two\nlines", "tab\tbetween"])
def test_single_line_fields_refuse_line_breaks_and_tabs(value):
    with pytest.raises(forms.ValidationError):
        TextField().clean(value)


@pytest.mark.django_db
def test_the_api_key_page_refuses_a_control_character_and_creates_nothing(company_member):
    client = login_client(company_member)
    response = client.post("/company/api-keys/", {"name": "pipe\u0007line"})
    assert response.status_code == 200
    assert "control character" in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_the_api_key_page_stores_the_name_in_nfc(company_member):
    client = login_client(company_member)
    client.post("/company/api-keys/", {"name": unicodedata.normalize("NFD", "Zoë's key")})
    assert ApiKey.objects.get().name == "Zoë's key"
