"""allauth hooks: suspended accounts cannot log in; logins land on the role's dashboard; the
client address its rate limits count is the one the audit log records (marketplace.clientip)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from marketplace.clientip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def pre_login(self, request, user, **kwargs):
        if getattr(user, "suspended_at", None) is not None:
            messages.error(request, "This account is suspended. Contact the Inloop operators.")
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)

    def get_login_redirect_url(self, request) -> str:
        return "/dashboard/"

    def get_client_ip(self, request) -> str:
        ip = client_ip(request)
        if not ip:
            # As allauth does: a rate limit per address cannot count a request without one.
            raise PermissionDenied("Unable to determine client IP address")
        return ip
