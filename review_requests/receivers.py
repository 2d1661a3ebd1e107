"""Reactions to other apps' signals (connected in ReviewRequestsConfig.ready)."""

from __future__ import annotations

from django.db import transaction


def on_expert_supply_changed(sender, expert_id, **kwargs) -> None:
    """experts sends this after commit: re-match the queued requests the expert could take."""
    from review_requests.tasks import matching_for_expert_task

    transaction.on_commit(lambda: matching_for_expert_task.enqueue(str(expert_id)))


def on_user_suspended(sender, user, actor=None, **kwargs) -> None:
    """Sent inside the suspension transaction: a suspended expert's open offers are withdrawn
    and their assignments not yet started are released (and offered to someone else)."""
    if not getattr(user, "is_expert", False):
        return
    from review_requests.services import expert_suspended_wind_down

    expert_suspended_wind_down(user=user, actor=actor)


def on_funds_added(sender, organization_id=None, organization=None, **kwargs) -> None:
    """billing says money arrived: requests waiting for funds are matched again."""
    from review_requests.tasks import matching_for_funds_task

    org_id = organization_id if organization_id is not None else getattr(organization, "pk", None)
    if org_id is None:
        return
    transaction.on_commit(lambda: matching_for_funds_task.enqueue(str(org_id)))


def connect() -> None:
    from django.db.models.signals import post_delete, post_migrate, post_save

    from billing.signals import funds_added
    from experts.models import Specialization
    from experts.signals import expert_supply_changed
    from marketplace.signals import user_suspended
    from review_requests.services import specializations_cache_clear

    # The per-process taxonomy copy used on create must never outlive a changed taxonomy.
    post_save.connect(
        specializations_cache_clear, sender=Specialization, dispatch_uid="rr_spec_save"
    )
    post_delete.connect(
        specializations_cache_clear, sender=Specialization, dispatch_uid="rr_spec_del"
    )
    post_migrate.connect(specializations_cache_clear, dispatch_uid="rr_spec_migrate")

    expert_supply_changed.connect(on_expert_supply_changed, dispatch_uid="rr_supply_changed")
    user_suspended.connect(on_user_suspended, dispatch_uid="rr_user_suspended")
    funds_added.connect(on_funds_added, dispatch_uid="rr_funds_added")
