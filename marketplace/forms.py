"""Forms of the platform core: they validate; services do the work."""

from __future__ import annotations

from django import forms
from django.db import transaction

from marketplace.formfields import TextField
from marketplace.models import Membership, User


class SignupForm(forms.Form):
    """Extra fields on allauth's sign-up form: who is signing up."""

    account_type = forms.ChoiceField(
        label="I am signing up as",
        choices=[
            (
                User.AccountType.EXPERT,
                "I am an expert (I review AI outputs and get paid by the hour)",
            ),
            (User.AccountType.COMPANY, "I represent an AI company (we buy expert review)"),
        ],
        widget=forms.RadioSelect,
    )
    organization_name = TextField(
        label="Company name",
        max_length=200,
        required=False,
        help_text="Only for AI companies: the organization you will own.",
    )

    field_order = ["email", "password1", "password2", "account_type", "organization_name"]

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("account_type") == User.AccountType.COMPANY
            and not (cleaned.get("organization_name") or "").strip()
        ):
            self.add_error("organization_name", "Tell us your company's name.")
        return cleaned

    def signup(self, request, user: User) -> None:
        from marketplace.services import organization_create

        with transaction.atomic():
            user.account_type = self.cleaned_data["account_type"]
            user.save(update_fields=["account_type"])
            if user.is_company:
                organization_create(owner=user, name=self.cleaned_data["organization_name"])


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class ApiKeyForm(forms.Form):
    name = TextField(label="Key name", max_length=100, help_text="e.g. the pipeline that uses it")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class InvitationSignupForm(forms.Form):
    """A new person joining through an invitation: the emailed link proves the address."""

    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput, strip=False)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        from django.contrib.auth.password_validation import validate_password

        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        elif password1:
            try:
                validate_password(password1, User(email=self.email))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
