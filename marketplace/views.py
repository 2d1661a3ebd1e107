"""Core pages: home, role routing, health, team, invitations, API keys, notifications."""

from __future__ import annotations

import asyncio
import time

from allauth.account.views import SignupView
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace import selectors, services
from marketplace.forms import ApiKeyForm, InvitationForm, InvitationSignupForm, RoleForm
from marketplace.models import Invitation, Notification, User
from marketplace.permissions import company_required


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@require_GET
def home(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "home.html", {"platform_fee_percent": selectors.platform_fee_percent()})


class RoleSignupView(SignupView):
    """allauth's sign-up, with the role chosen already when the link said which one
    (`?as=expert` from "Sign up as an expert", `?as=company` from "Sign up as a company")."""

    def get_initial(self) -> dict:
        initial = super().get_initial()
        role = self.request.GET.get("as", "")
        if role in User.AccountType.values and role != User.AccountType.OPERATOR:
            initial["account_type"] = role
        return initial


signup = RoleSignupView.as_view()


@login_required
def dashboard(request):
    """Each role has its own home."""
    user: User = request.user
    if user.is_operator:
        return redirect("/console/")
    if user.is_expert:
        return redirect("/expert/")
    if user.is_company:
        return redirect("/company/")
    raise PermissionDenied("This account has no role yet.")


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


async def _channel_layer_round_trip(layer) -> dict:
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "healthz.ping"})
    return await asyncio.wait_for(layer.receive(channel), timeout=5)


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    # One event loop for the three calls: the pub/sub layer keeps a channel's subscription in
    # the loop that made it, so a send and receive each in its own async_to_sync would miss.
    received = async_to_sync(_channel_layer_round_trip)(layer)
    if received.get("type") != "healthz.ping":
        raise RuntimeError("channel layer round trip failed")
    return "ok"


def _check_tasks() -> str:
    from django_tasks import task_backends

    backend = task_backends["default"]
    if backend.__class__.__name__ == "DatabaseBackend":
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.exists()
    return f"ok ({backend.__class__.__name__})"


HEALTH_CHECKS = {
    "database": _check_database,
    "channel_layer": _check_channel_layer,
    "tasks": _check_tasks,
}


@require_GET
def healthz(request):
    results: dict[str, dict[str, object]] = {}
    healthy = True
    for name, check in HEALTH_CHECKS.items():
        started = time.perf_counter()
        try:
            status = check()
            results[name] = {"status": status}
        except Exception as exc:  # any failure of a dependency is reported, not raised
            healthy = False
            results[name] = {"status": "down", "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return JsonResponse(
        {"status": "ok" if healthy else "down", "checks": results}, status=200 if healthy else 503
    )


# Team and invitations ---------------------------------------------------------------------


@company_required
@require_http_methods(["GET", "POST"])
def team(request):
    organization = request.organization
    form = InvitationForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Only owners and admins can invite people.")
        if form.is_valid():
            try:
                services.invitation_create(
                    organization=organization,
                    inviter=request.user,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
                return redirect("team")
    invitations = Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")
    return render(
        request,
        "marketplace/team.html",
        {
            "members": selectors.organization_members(organization=organization),
            "invitations": invitations,
            "form": form,
            "role_choices": RoleForm.base_fields["role"].choices,
            "is_admin": request.membership.is_admin,
        },
    )


@company_required(admin=True)
@require_POST
def team_member_role(request, pk: int):
    membership = selectors.membership_get_for_admin(organization=request.organization, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("team")
    try:
        services.membership_set_role(
            membership=membership, role=form.cleaned_data["role"], actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{membership.user.email} is now {form.cleaned_data['role']}.")
    return redirect("team")


@company_required
@require_POST
def team_member_remove(request, pk: int):
    membership = selectors.membership_get_for_admin(organization=request.organization, pk=pk)
    if membership.user_id != request.user.pk and not request.membership.is_admin:
        raise PermissionDenied("Only owners and admins can remove members.")
    # Only owners and admins are offered the choice; a member leaving cannot revoke keys.
    revoke = request.membership.is_admin and request.POST.get("revoke_api_keys") == "1"
    try:
        keys = services.membership_remove(
            membership=membership, actor=request.user, revoke_api_keys=revoke
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("team")
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left {request.organization.name}.")
        return redirect("home")
    messages.success(request, f"{membership.user.email} was removed.{_keys_note(keys, revoke)}")
    return redirect("team")


def _keys_note(keys: list, revoked: bool) -> str:
    if not keys:
        return ""
    count = f"{len(keys)} API key{'s' if len(keys) != 1 else ''} they created"
    if revoked:
        return f" The {count} {'was' if len(keys) == 1 else 'were'} revoked."
    return f" The {count} still {'works' if len(keys) == 1 else 'work'}: revoke and replace {'it' if len(keys) == 1 else 'them'} on the API keys page if they may have kept a copy."


@company_required(admin=True)
@require_POST
def invitation_revoke(request, pk: int):
    invitation = Invitation.objects.filter(organization=request.organization, pk=pk).first()
    if invitation is None:
        raise Http404("No such invitation")
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("team")


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    invitation = services.invitation_get_by_token(token=token)
    if invitation is None or not invitation.is_open:
        reason = "This invitation link is not valid."
        if invitation is not None and invitation.accepted_at:
            reason = "This invitation has already been used."
        elif invitation is not None and invitation.revoked_at:
            reason = "This invitation was withdrawn."
        elif invitation is not None:
            reason = "This invitation has expired; ask for a new one."
        return render(request, "marketplace/invitation.html", {"error": reason}, status=410)

    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                services.invitation_accept(token=token, user=request.user)
            except ValidationError as exc:
                messages.error(request, _error_text(exc))
                return redirect("invitation_accept", token=token)
            messages.success(request, f"Welcome to {invitation.organization.name}.")
            return redirect("dashboard")
        return render(request, "marketplace/invitation.html", {"invitation": invitation})

    existing = User.objects.filter(email__iexact=invitation.email).exists()
    form = None if existing else InvitationSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            user = services.invitation_signup(token=token, password=form.cleaned_data["password1"])
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("invitation_accept", token=token)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to {invitation.organization.name}.")
        return redirect("dashboard")
    return render(
        request,
        "marketplace/invitation.html",
        {"invitation": invitation, "form": form, "existing_account": existing},
    )


# API keys and webhook secret ---------------------------------------------------------------


# The raw key of a key just created waits here for the one GET that shows it (POST, redirect,
# GET: a reload neither creates another key nor shows this one again). Sessions are stored on
# the server, so the key never travels in a cookie.
NEW_API_KEY_SESSION_KEY = "inloop.new_api_key"


@company_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    organization = request.organization
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Only owners and admins can create API keys.")
        if form.is_valid():
            _, raw_key = services.api_key_create(
                organization=organization, name=form.cleaned_data["name"], actor=request.user
            )
            request.session[NEW_API_KEY_SESSION_KEY] = raw_key
            return redirect("api_keys")
    new_key = request.session.pop(NEW_API_KEY_SESSION_KEY, None)
    keys = selectors.api_keys_for_organization(organization=organization)
    return render(
        request,
        "marketplace/api_keys.html",
        {"keys": keys, "form": form, "new_key": new_key, "is_admin": request.membership.is_admin},
    )


@company_required(admin=True)
@require_POST
def api_key_revoke(request, pk: int):
    api_key = selectors.api_key_get_for_org(organization=request.organization, pk=pk)
    try:
        services.api_key_revoke(api_key=api_key, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Key “{api_key.name}” revoked; it stops working at once.")
    return redirect("api_keys")


@company_required(admin=True)
@require_POST
def webhook_secret_rotate(request):
    services.webhook_secret_rotate(organization=request.organization, actor=request.user)
    messages.success(
        request, "Signing secret rotated. Update your verifier now: old signatures stop matching."
    )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "api_keys"
    return redirect(next_url)


# Notifications -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request):
    if request.method == "POST":
        if request.POST.get("action") == "preferences":
            services.notification_preferences_set(
                user=request.user,
                email_by_kind={
                    kind: f"email_{kind}" in request.POST for kind in Notification.Kind.values
                },
            )
            messages.success(request, "Email preferences saved.")
        else:
            services.notifications_mark_read(user=request.user)
            messages.success(request, "All notifications marked as read.")
        return redirect("notifications")
    page = Paginator(Notification.objects.filter(user=request.user), 25).get_page(
        request.GET.get("page")
    )
    opted_out = set(
        request.user.notification_preferences.filter(email=False).values_list("kind", flat=True)
    )
    kinds = [(value, label, value not in opted_out) for value, label in Notification.Kind.choices]
    return render(request, "marketplace/notifications.html", {"page_obj": page, "kinds": kinds})
