"""allauth hooks: suspended accounts cannot log in; logins land on the role's dashboard; a login
counts as a recent authentication for ACCOUNT_REAUTHENTICATION_TIMEOUT (so an operator sent to
set up two-factor authentication right after logging in is not asked for the password again);
the client address its rate limits count is the one the audit log records (marketplace.clientip)."""

from __future__ import annotations

import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from marketplace.clientip import client_ip

# When this session last logged in (time.time()), set by AccountAdapter.login.
LOGGED_IN_AT_SESSION_KEY = "inloop_logged_in_at"


class AccountAdapter(DefaultAccountAdapter):
    def login(self, request, user) -> None:
        super().login(request, user)
        request.session[LOGGED_IN_AT_SESSION_KEY] = time.time()

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """allauth 65 counts only an explicit "Confirm access" as recent; a login (password and,
        when switched on, the second factor) within the same timeout is as fresh a proof."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        return not self.logged_in_recently()

    def logged_in_recently(self) -> bool:
        request = self.request
        if request is None or not request.user.is_authenticated:
            return False
        logged_in_at = request.session.get(LOGGED_IN_AT_SESSION_KEY)
        if not isinstance(logged_in_at, (int, float)):
            return False
        return time.time() - logged_in_at < account_settings.REAUTHENTICATION_TIMEOUT

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
