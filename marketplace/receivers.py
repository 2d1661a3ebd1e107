"""Reactions to framework signals: audit logins, close sockets on logout, make sockets re-check
their rights when a right may have gone."""

from __future__ import annotations

from allauth.account.signals import user_signed_up
from allauth.mfa.models import Authenticator
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from marketplace.clientip import client_ip
from marketplace.models import Membership, User
from marketplace.realtime import group_send_now, rights_changed, user_group

# User fields whose change can take a right away: the password ends the user's other sessions
# (and, for sockets, every session: see session_user_current), the others gate every socket.
RIGHTS_FIELDS = {"password", "is_active", "suspended_at", "account_type", "is_staff"}


def _ip(request) -> str | None:
    return None if request is None else client_ip(request)


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs):
    from marketplace.services import audit_record

    audit_record(
        actor=user, action="auth.login", object_type="user", object_id=user.pk, ip=_ip(request)
    )


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    from marketplace.services import audit_record

    # The address tried is not stored: it may belong to nobody (no enumeration in the log).
    audit_record(actor=None, action="auth.login_failed", ip=_ip(request))


@receiver(user_logged_out)
def _close_sockets_on_logout(sender, request, user, **kwargs):
    # Logging out over HTTP does not touch open websockets (channels#1324): close them.
    if user is not None:
        group_send_now(
            user_group(user.pk), {"type": "force.close", "code": 4401, "reason": "logged_out"}
        )


@receiver(user_signed_up)
def _audit_signup(sender, request, user, **kwargs):
    from marketplace.services import audit_record

    audit_record(
        actor=user,
        action="auth.signed_up",
        object_type="user",
        object_id=user.pk,
        after={"account_type": user.account_type},
        ip=_ip(request),
    )


@receiver(post_save, sender=User)
def _user_saved(sender, instance, update_fields=None, created=False, **kwargs):
    if created:
        return
    if update_fields is None or RIGHTS_FIELDS & set(update_fields):
        rights_changed(instance.pk)


# Socket rights follow the rows, not the services: allauth changes passwords and removes
# authenticators, and the Django admin edits users and memberships, without our services, so
# the model signals are the one place every path crosses. The broadcast
# itself waits for the commit (realtime.broadcast_on_commit), so the re-check sees the change.
@receiver(post_save, sender=Membership)
def _membership_saved(sender, instance, created=False, **kwargs):
    if not created:  # a role changed; a new membership takes nothing away
        rights_changed(instance.user_id)


@receiver(post_delete, sender=Membership)
def _membership_deleted(sender, instance, **kwargs):
    rights_changed(instance.user_id)


@receiver(post_delete, sender=User)
def _user_deleted(sender, instance, **kwargs):
    rights_changed(instance.pk)


@receiver(post_delete, sender=Authenticator)
def _authenticator_deleted(sender, instance, **kwargs):
    # Two-factor off: an operator's workspace and request sockets close (console rule).
    rights_changed(instance.user_id)
