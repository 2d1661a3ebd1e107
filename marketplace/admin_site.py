"""The Django admin behind the same door as the console: signing in goes through allauth (so
two-factor applies), and staff without two-factor authentication are sent to set it up."""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin, messages
from django.shortcuts import redirect

from marketplace.permissions import operator_has_mfa


class InloopAdminSite(admin.AdminSite):
    site_header = "Inloop administration"
    site_title = "Inloop admin"

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and operator_has_mfa(request.user)

    def login(self, request, extra_context=None):
        user = request.user
        if user.is_authenticated and user.is_staff and not operator_has_mfa(user):
            messages.warning(request, "Turn on two-factor authentication to use the admin.")
            return redirect("mfa_activate_totp")
        return secure_admin_login(super().login)(request, extra_context)
