"""allauth hooks: suspended accounts cannot log in; logins land on the role's dashboard."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.shortcuts import redirect


class AccountAdapter(DefaultAccountAdapter):
    def pre_login(self, request, user, **kwargs):
        if getattr(user, "suspended_at", None) is not None:
            messages.error(request, "This account is suspended. Contact the Inloop operators.")
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)

    def get_login_redirect_url(self, request) -> str:
        return "/dashboard/"
