"""Reads of the platform core."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from marketplace.models import (
    ApiKey,
    Membership,
    Notification,
    Organization,
    PlatformSettings,
    User,
)


def membership_for_user(*, user: User) -> Membership | None:
    if not user.is_authenticated or not user.is_company:
        return None
    return Membership.objects.select_related("organization").filter(user=user).first()


def organization_for_user(*, user: User) -> Organization | None:
    membership = membership_for_user(user=user)
    return membership.organization if membership else None


def organization_members(*, organization: Organization) -> list[Membership]:
    """Members, each with `active_api_keys`: how many working keys of the organization they made
    (offered for revocation when they are removed)."""
    keys = (
        ApiKey.objects.filter(
            organization=organization, created_by=OuterRef("user"), revoked_at__isnull=True
        )
        .order_by()
        .values("created_by")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .annotate(active_api_keys=Coalesce(Subquery(keys), 0))
        .order_by("created_at")
    )


def api_keys_for_organization(*, organization: Organization) -> list[ApiKey]:
    """Newest first, each with `creator_is_member` (False once the creator left or was removed,
    or their account is gone: the key page asks for such keys to be replaced)."""
    return list(
        organization.api_keys.select_related("created_by").annotate(
            creator_is_member=Exists(
                Membership.objects.filter(organization=organization, user=OuterRef("created_by"))
            )
        )
    )


def organization_admins(*, organization_id) -> list[User]:
    """The organization's owners and admins who are not suspended: who hears about its work."""
    return list(
        User.objects.filter(
            memberships__organization_id=organization_id,
            memberships__role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
            suspended_at__isnull=True,
        )
    )


def membership_get_for_admin(*, organization: Organization, pk: int) -> Membership:
    membership = (
        Membership.objects.select_related("user", "organization")
        .filter(organization=organization, pk=pk)
        .first()
    )
    if membership is None:
        raise Http404("No such member")
    return membership


def api_key_get_for_org(*, organization: Organization, pk: int) -> ApiKey:
    api_key = (
        ApiKey.objects.select_related("organization")
        .filter(organization=organization, pk=pk)
        .first()
    )
    if api_key is None:
        raise Http404("No such key")
    return api_key


def unread_notification_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def _platform_setting(field: str, default):
    """An operator's override from PlatformSettings, or the environment's default."""
    value = PlatformSettings.objects.filter(pk=1).values_list(field, flat=True).first()
    return default if value is None else value


def platform_fee_percent() -> Decimal:
    return Decimal(_platform_setting("fee_percent", settings.PLATFORM_FEE_PERCENT))


def dispute_window_hours() -> int:
    return int(_platform_setting("dispute_window_hours", settings.DISPUTE_WINDOW_HOURS))


def dispute_approval_threshold_cents() -> int:
    """Decisions moving more than this need a second operator (default $1,000)."""
    return int(
        _platform_setting(
            "dispute_approval_threshold_cents", settings.DISPUTE_APPROVAL_THRESHOLD_CENTS
        )
    )


def user_role(*, user: User) -> str | None:
    if not user.is_authenticated:
        return None
    return user.account_type or None


def session_user_current(*, user_id: int, session) -> User | None:
    """The user a socket's session still logs in, re-read: None once the user is gone or
    deactivated, or the password changed since the session was opened. The same check as
    Django's `get_user` (the session's HASH_SESSION_KEY against the user's password-derived
    hash, with the fallback secrets), which refuses such a session over HTTP; a socket keeps the
    copy of the session it was opened with, so a password change never matches it again."""
    from django.contrib.auth import HASH_SESSION_KEY
    from django.utils.crypto import constant_time_compare

    user = User.objects.filter(pk=user_id, is_active=True).first()
    session_hash = session.get(HASH_SESSION_KEY) if session is not None else None
    if user is None or not session_hash:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, known) for known in hashes):
        return None
    return user
