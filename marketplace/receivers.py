"""Reactions to framework signals: audit logins, close sockets on logout, and stop using kept
API key lookups when a key, an organization or a user changes."""

from __future__ import annotations

from allauth.account.signals import user_signed_up
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from marketplace import keycache
from marketplace.models import ApiKey, Organization, User
from marketplace.realtime import group_send_now, user_group


def _ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR")


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


@receiver(post_save, sender=ApiKey)
@receiver(post_save, sender=Organization)
@receiver(post_delete, sender=ApiKey)
@receiver(post_delete, sender=Organization)
@receiver(post_delete, sender=User)
def _api_keys_changed(sender, **kwargs):
    keycache.changed()


@receiver(post_save, sender=User)
def _user_saved(sender, update_fields=None, created=False, **kwargs):
    # A key stops working with its creator's suspension; logins (last_login) change nothing.
    if not created and (update_fields is None or "suspended_at" in update_fields):
        keycache.changed()
