from __future__ import annotations

from marketplace.selectors import membership_for_user, unread_notification_count


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_role": None, "nav_org": None, "unread_notifications": 0}
    membership = membership_for_user(user=user)
    return {
        "nav_role": user.account_type or None,
        "nav_org": membership.organization if membership else None,
        "nav_membership": membership,
        "unread_notifications": unread_notification_count(user=user),
    }
