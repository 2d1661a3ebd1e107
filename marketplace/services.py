"""Writes of the platform core. Each public function is one transaction."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from marketplace.models import (
    ApiKey,
    AuditLog,
    Invitation,
    Membership,
    Notification,
    NotificationPreference,
    Organization,
    PlatformSettings,
    User,
)
from marketplace.realtime import broadcast_on_commit, close_user_sockets, user_group

INVITATION_TTL = timedelta(days=7)
API_KEY_PREFIX = "inl_"


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _snapshot(value: Any) -> Any:
    """JSON-safe copy for the audit log's before/after."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _snapshot(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_snapshot(v) for v in value]
    return str(value)


def audit_record(
    *,
    actor: User | None,
    action: str,
    object_type: str = "",
    object_id: Any = "",
    before: Any = None,
    after: Any = None,
    organization: Organization | None = None,
    ip: str | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor.email if actor is not None and actor.pk else "system",
        organization=organization,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        before=_snapshot(before),
        after=_snapshot(after),
        ip=ip,
    )


# Organizations and members -------------------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "org"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


PLATFORM_ORGANIZATION_SLUG = "inloop-platform"


def platform_organization() -> Organization:
    """The organization that owns the platform's own review requests (golden items and
    qualification tests, paid by the platform): made on first use, has no members."""
    organization, _ = Organization.objects.get_or_create(
        slug=PLATFORM_ORGANIZATION_SLUG,
        defaults={"name": "Inloop (platform reviews)", "webhook_secret": _new_webhook_secret()},
    )
    return organization


def organization_create(*, owner: User, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "An organization needs a name."})
    with transaction.atomic():
        if Membership.objects.filter(user=owner).exists():
            raise ValidationError("This account already belongs to an organization.")
        organization = Organization.objects.create(
            name=name, slug=_unique_slug(name), webhook_secret=_new_webhook_secret()
        )
        Membership.objects.create(organization=organization, user=owner, role=Membership.Role.OWNER)
        audit_record(
            actor=owner,
            action="organization.created",
            object_type="organization",
            object_id=organization.pk,
            after={"name": name},
            organization=organization,
        )
    return organization


def _require_admin(*, organization: Organization, actor: User) -> Membership:
    membership = Membership.objects.filter(organization=organization, user=actor).first()
    if membership is None or not membership.is_admin:
        raise PermissionDenied("Only owners and admins can do this.")
    return membership


def invitation_create(
    *, organization: Organization, inviter: User, email: str, role: str
) -> tuple[Invitation, str]:
    """Returns the invitation and its raw token (only ever sent by email)."""
    email = email.strip().lower()
    if role not in Membership.Role.values:
        raise ValidationError({"role": "Choose owner, admin or member."})
    with transaction.atomic(durable=True):
        inviter_membership = _require_admin(organization=organization, actor=inviter)
        if role == Membership.Role.OWNER and inviter_membership.role != Membership.Role.OWNER:
            raise PermissionDenied("Only owners can invite owners.")
        if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
            raise ValidationError({"email": "This person is already a member."})
        raw_token = secrets.token_urlsafe(32)
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=_sha256(raw_token),
            invited_by=inviter,
            expires_at=timezone.now() + INVITATION_TTL,
        )
        audit_record(
            actor=inviter,
            action="invitation.created",
            object_type="invitation",
            object_id=invitation.pk,
            after={"email": email, "role": role},
            organization=organization,
        )
        link = f"{settings.SITE_URL}/invitations/{raw_token}/"
        transaction.on_commit(
            lambda: send_mail(
                f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Join {organization.name} on Inloop",
                f"{inviter.email} invited you to join {organization.name} on Inloop as {role}.\n\n"
                f"Accept within 7 days: {link}\n",
                None,
                [email],
            )
        )
    return invitation, raw_token


def invitation_get_by_token(*, token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization").filter(token_hash=_sha256(token)).first()
    )


def invitation_accept(*, token: str, user: User) -> Membership:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("organization")
            .filter(token_hash=_sha256(token))
            .first()
        )
        if invitation is None:
            raise ValidationError("This invitation link is not valid.")
        if invitation.accepted_at is not None:
            raise ValidationError("This invitation has already been used.")
        if invitation.revoked_at is not None:
            raise ValidationError("This invitation was withdrawn.")
        if invitation.expires_at <= timezone.now():
            raise ValidationError("This invitation has expired; ask for a new one.")
        if invitation.email.lower() != user.email.lower():
            raise ValidationError("This invitation was sent to a different email address.")
        if not user.is_company:
            raise ValidationError("Only company accounts can join an organization.")
        if Membership.objects.filter(user=user).exists():
            raise ValidationError("This account already belongs to an organization.")
        membership = Membership.objects.create(
            organization=invitation.organization, user=user, role=invitation.role
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            actor=user,
            action="invitation.accepted",
            object_type="invitation",
            object_id=invitation.pk,
            after={"role": invitation.role},
            organization=invitation.organization,
        )
    return membership


def invitation_signup(*, token: str, password: str) -> User:
    """A new person accepts by setting a password: the emailed link proves the address."""
    invitation = invitation_get_by_token(token=token)
    if invitation is None or not invitation.is_open:
        raise ValidationError("This invitation is no longer valid.")
    with transaction.atomic(durable=True):
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ValidationError("An account with this email exists; log in to accept.")
        user = User.objects.create_user(
            email=invitation.email, password=password, account_type=User.AccountType.COMPANY
        )
        _mark_email_verified(user)
        invitation_accept(token=token, user=user)
    return user


def invitation_revoke(*, invitation: Invitation, actor: User) -> None:
    with transaction.atomic(durable=True):
        _require_admin(organization=invitation.organization, actor=actor)
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if updated != 1:
            raise ValidationError("This invitation is no longer open.")
        audit_record(
            actor=actor,
            action="invitation.revoked",
            object_type="invitation",
            object_id=invitation.pk,
            organization=invitation.organization,
        )


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Membership.Role.OWNER).count()


def membership_set_role(*, membership: Membership, role: str, actor: User) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError({"role": "Choose owner, admin or member."})
    with transaction.atomic(durable=True):
        actor_membership = _require_admin(organization=membership.organization, actor=actor)
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        touches_owner = Membership.Role.OWNER in {membership.role, role}
        if touches_owner and actor_membership.role != Membership.Role.OWNER:
            raise PermissionDenied("Only owners can grant or take the owner role.")
        if (
            membership.role == Membership.Role.OWNER
            and role != Membership.Role.OWNER
            and _owner_count(membership.organization) <= 1
        ):
            raise ValidationError("The last owner cannot step down; make someone else owner first.")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="membership.role_changed",
            object_type="membership",
            object_id=membership.pk,
            before={"role": before},
            after={"role": role, "user": membership.user.email},
            organization=membership.organization,
        )
    return membership


def membership_remove(
    *, membership: Membership, actor: User, revoke_api_keys: bool = False
) -> list[ApiKey]:
    """Remove a member (or leave). Their API keys are the organization's and keep working unless
    `revoke_api_keys` (an owner's or admin's choice): then the active keys they created are
    revoked in the same transaction. Returns the active keys they created that were revoked or,
    without it, that still work."""
    with transaction.atomic(durable=True):
        leaving = membership.user_id == actor.pk
        if not leaving or revoke_api_keys:
            actor_membership = _require_admin(organization=membership.organization, actor=actor)
            if (
                not leaving
                and membership.role == Membership.Role.OWNER
                and actor_membership.role != Membership.Role.OWNER
            ):
                raise PermissionDenied("Only owners can remove owners.")
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Membership.Role.OWNER and _owner_count(membership.organization) <= 1:
            raise ValidationError("The last owner cannot leave; make someone else owner first.")
        keys = list(
            ApiKey.objects.select_for_update().filter(
                organization=membership.organization,
                created_by=membership.user,
                revoked_at__isnull=True,
            )
        )
        prefixes = [api_key.prefix for api_key in keys]
        audit_record(
            actor=actor,
            action="membership.removed",
            object_type="membership",
            object_id=membership.pk,
            before={"user": membership.user.email, "role": membership.role},
            after={"api_keys_revoked" if revoke_api_keys else "api_keys_still_working": prefixes},
            organization=membership.organization,
        )
        if revoke_api_keys:
            for api_key in keys:
                _api_key_revoke_locked(api_key=api_key, actor=actor)
        membership.delete()
    return keys


# API keys and webhook secret -------------------------------------------------------------


def api_key_create(*, organization: Organization, name: str, actor: User) -> tuple[ApiKey, str]:
    """Returns the key row and the raw key, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the key a name, e.g. the pipeline that uses it."})
    with transaction.atomic(durable=True):
        _require_admin(organization=organization, actor=actor)
        raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        api_key = ApiKey.objects.create(
            organization=organization,
            name=name[:100],
            prefix=raw_key[:12],
            key_hash=_sha256(raw_key),
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="api_key.created",
            object_type="api_key",
            object_id=api_key.pk,
            after={"name": api_key.name, "prefix": api_key.prefix},
            organization=organization,
        )
    return api_key, raw_key


def api_key_create_for_seed(*, organization: Organization, name: str) -> tuple[ApiKey, str]:
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        organization=organization, name=name, prefix=raw_key[:12], key_hash=_sha256(raw_key)
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey, actor: User) -> None:
    with transaction.atomic(durable=True):
        _require_admin(organization=api_key.organization, actor=actor)
        _api_key_revoke_locked(api_key=api_key, actor=actor)


def _api_key_revoke_locked(*, api_key: ApiKey, actor: User) -> None:
    """Inside the caller's transaction, once the actor's rights are checked."""
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError("This key is already revoked.")
    audit_record(
        actor=actor,
        action="api_key.revoked",
        object_type="api_key",
        object_id=api_key.pk,
        before={"name": api_key.name, "prefix": api_key.prefix},
        organization=api_key.organization,
    )


def api_key_digest(raw_key: str) -> str | None:
    """The stored hash of a raw bearer token shaped like one of our keys, else None."""
    if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 200:
        return None
    return _sha256(raw_key)


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key for a raw bearer token, with its organization, or None; looked up on every
    call, so a revocation or a suspension holds from the next call on. A suspended creator's keys
    stop working with their login; a key whose creator was deleted keeps working. Touches
    last_used_at at most once a minute."""
    digest = api_key_digest(raw_key)
    if digest is None:
        return None
    api_key = (
        ApiKey.objects.select_related("organization")
        # A LEFT JOIN on the creator: a deleted creator (NULL) passes, a suspended one does not.
        .filter(key_hash=digest, revoked_at__isnull=True, created_by__suspended_at__isnull=True)[
            # key_hash is unique: no ORDER BY (which `.first()` adds) for at most one row.
            :1
        ]
    )
    api_key = next(iter(api_key), None)
    if api_key is None:
        return None
    api_key_touch(api_key)
    return api_key


def api_key_touch(api_key: ApiKey) -> bool:
    """Record the key's use, at most once a minute; True if it was written."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at <= timedelta(minutes=1):
        return False
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    return True


def _new_webhook_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def webhook_secret_rotate(*, organization: Organization, actor: User) -> str:
    with transaction.atomic(durable=True):
        _require_admin(organization=organization, actor=actor)
        organization.webhook_secret = _new_webhook_secret()
        organization.save(update_fields=["webhook_secret"])
        audit_record(
            actor=actor,
            action="webhook_secret.rotated",
            object_type="organization",
            object_id=organization.pk,
            organization=organization,
        )
    return organization.webhook_secret


# Notifications ----------------------------------------------------------------------------


def notify(*, user: User, kind: str, title: str, body: str = "", url: str = "") -> Notification:
    """In-app always (live over the user's socket); email unless the user opted out."""
    notification = Notification.objects.create(
        user=user, kind=kind, title=title, body=body, url=url
    )
    broadcast_on_commit(
        user_group(user.pk),
        {
            "type": "notification.push",
            "notification": {
                "id": notification.pk,
                "kind": kind,
                "title": title,
                "body": body,
                "url": url,
            },
        },
    )
    wants_email = not NotificationPreference.objects.filter(
        user=user, kind=kind, email=False
    ).exists()
    if wants_email and user.email:
        link = f"{settings.SITE_URL}{url}" if url else settings.SITE_URL
        transaction.on_commit(
            lambda: send_mail(
                f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{title}",
                f"{body}\n\n{link}\n",
                None,
                [user.email],
                fail_silently=True,
            )
        )
    return notification


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


def notification_preferences_set(*, user: User, email_by_kind: dict[str, bool]) -> None:
    with transaction.atomic(durable=True):
        for kind, email in email_by_kind.items():
            if kind not in Notification.Kind.values:
                raise ValidationError({"kind": f"Unknown notification kind {kind!r}."})
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind, defaults={"email": email}
            )


# Users ------------------------------------------------------------------------------------


def operator_create(*, email: str, password: str) -> User:
    try:
        with transaction.atomic(durable=True):
            user = User.objects.create_user(
                email=email,
                password=password,
                account_type=User.AccountType.OPERATOR,
                is_staff=True,
            )
            _mark_email_verified(user)
            audit_record(
                actor=None, action="operator.created", object_type="user", object_id=user.pk
            )
    except IntegrityError as exc:
        raise ValidationError({"email": "An account with this email already exists."}) from exc
    return user


def operator_credentials_reset(*, user: User) -> tuple[str, str]:
    """A new random password and a new authenticator-app (TOTP) secret for an operator, both
    returned once; any earlier second factor and recovery codes stop working. For demo data on
    a production server (seed_demo), where an operator must never exist without two-factor."""
    from allauth.mfa.adapter import get_adapter
    from allauth.mfa.models import Authenticator

    if user.account_type != User.AccountType.OPERATOR:
        raise ValidationError("Only operators get credentials this way.")
    password = secrets.token_urlsafe(24)
    # RFC 6238 secret: 160 random bits in base32, as authenticator apps expect.
    secret = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        Authenticator.objects.filter(user=user).delete()
        # allauth's own storage of a TOTP authenticator (what its activation view writes), with
        # the secret through its adapter's encrypt hook; the seed_demo tests log in with it.
        Authenticator.objects.create(
            user=user,
            type=Authenticator.Type.TOTP,
            data={"secret": get_adapter().encrypt(secret)},
        )
        audit_record(
            actor=None,
            action="operator.credentials_reset",
            object_type="user",
            object_id=user.pk,
            after={"totp": True},
        )
    return password, secret


def _mark_email_verified(user: User) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


def user_mark_email_verified(*, user: User) -> None:
    _mark_email_verified(user)


def user_suspend(*, user: User, actor: User, reason: str) -> User:
    """Blocks login and API keys of the user's organization (if sole owner), closes sockets.
    Other apps react through the `user_suspended` signal (offers withdrawn, etc.)."""
    from marketplace.signals import user_suspended

    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the account is suspended."})
    if user.pk == actor.pk:
        raise ValidationError("You cannot suspend yourself.")
    with transaction.atomic(durable=True):
        updated = User.objects.filter(pk=user.pk, suspended_at__isnull=True).update(
            suspended_at=timezone.now(), suspended_reason=reason[:500]
        )
        if updated != 1:
            raise ValidationError("This account is already suspended.")
        user.refresh_from_db()
        audit_record(
            actor=actor,
            action="user.suspended",
            object_type="user",
            object_id=user.pk,
            after={"email": user.email, "reason": reason},
        )
        close_user_sockets(user.pk, code=4403, reason="suspended")
        user_suspended.send(sender=User, user=user, actor=actor)
    return user


def user_reinstate(*, user: User, actor: User) -> User:
    with transaction.atomic(durable=True):
        updated = User.objects.filter(pk=user.pk, suspended_at__isnull=False).update(
            suspended_at=None, suspended_reason=""
        )
        if updated != 1:
            raise ValidationError("This account is not suspended.")
        user.refresh_from_db()
        audit_record(
            actor=actor,
            action="user.reinstated",
            object_type="user",
            object_id=user.pk,
            after={"email": user.email},
        )
    return user


# Platform settings -------------------------------------------------------------------------


def platform_settings_update(
    *,
    actor: User,
    fee_percent: Any = None,
    dispute_window_hours: int | None = None,
    dispute_approval_threshold_cents: int | None = None,
) -> PlatformSettings:
    """Set every operator-editable rule at once (None: back to the environment's default)."""
    after = {
        "fee_percent": fee_percent,
        "dispute_window_hours": dispute_window_hours,
        "dispute_approval_threshold_cents": dispute_approval_threshold_cents,
    }
    with transaction.atomic(durable=True):
        row, _ = PlatformSettings.objects.select_for_update().get_or_create(pk=1)
        before = {name: getattr(row, name) for name in after}
        for name, value in after.items():
            setattr(row, name, value)
        row.updated_by = actor
        row.save()
        audit_record(
            actor=actor,
            action="platform_settings.updated",
            object_type="platform_settings",
            object_id=1,
            before=before,
            after=after,
        )
    return row
