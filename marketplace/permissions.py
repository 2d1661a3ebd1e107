"""Role checks for views: one decorator per role, so the rule is written once."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from marketplace.models import User
from marketplace.selectors import membership_for_user


def _login_first(request):
    return redirect_to_login(request.get_full_path())


def expert_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _login_first(request)
        if not request.user.is_expert:
            raise PermissionDenied("This page is for experts.")
        return view(request, *args, **kwargs)

    return wrapper


def company_required(view=None, *, admin: bool = False):
    """Sets request.membership and request.organization; `admin=True` needs owner or admin."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _login_first(request)
            membership = membership_for_user(user=request.user)
            if membership is None:
                raise PermissionDenied("This page is for AI company members.")
            if admin and not membership.is_admin:
                raise PermissionDenied("Only owners and admins can do this.")
            request.membership = membership
            request.organization = membership.organization
            return view(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator


def operator_has_mfa(user: User) -> bool:
    from allauth.mfa.utils import is_mfa_enabled

    return is_mfa_enabled(user)


def operator_required(view):
    """Operators only, and only with two-factor authentication switched on."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _login_first(request)
        if not request.user.is_operator:
            raise PermissionDenied("This page is for operators.")
        if not operator_has_mfa(request.user):
            messages.warning(request, "Operators must turn on two-factor authentication first.")
            return redirect("mfa_activate_totp")
        return view(request, *args, **kwargs)

    return wrapper
