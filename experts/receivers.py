"""Keeps the match rows (a cache of the normalized tables) fresh whoever writes those tables.

Services refresh explicitly and defer these receivers while they work; the receivers are the
safety net for writers that bypass services: the admin, seed data, and tests building rows by
hand. Bulk writes (bulk_create, QuerySet.update) send no signals: call
experts.match_index.match_rows_refresh after them.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from experts.match_index import match_rows_refresh, refresh_is_deferred
from experts.models import AvailabilityWindow, Credential, ExpertProfile, ExpertSpecialization
from marketplace.models import User


@receiver(post_save, sender=ExpertProfile, dispatch_uid="experts_match_profile")
def _profile_saved(sender, instance: ExpertProfile, raw=False, **kwargs):
    if not raw and not refresh_is_deferred():
        match_rows_refresh(expert_ids=[instance.pk])


@receiver(post_save, sender=ExpertSpecialization, dispatch_uid="experts_match_spec_save")
@receiver(post_delete, sender=ExpertSpecialization, dispatch_uid="experts_match_spec_delete")
@receiver(post_save, sender=AvailabilityWindow, dispatch_uid="experts_match_window_save")
@receiver(post_delete, sender=AvailabilityWindow, dispatch_uid="experts_match_window_delete")
@receiver(post_save, sender=Credential, dispatch_uid="experts_match_credential_save")
@receiver(post_delete, sender=Credential, dispatch_uid="experts_match_credential_delete")
def _child_changed(sender, instance, raw=False, **kwargs):
    if not raw and not refresh_is_deferred():
        match_rows_refresh(expert_ids=[instance.expert_id])


@receiver(post_save, sender=User, dispatch_uid="experts_match_user")
def _user_saved(sender, instance: User, raw=False, **kwargs):
    if raw or refresh_is_deferred() or not instance.is_expert:
        return
    ids = list(ExpertProfile.objects.filter(user_id=instance.pk).values_list("pk", flat=True))
    if ids:
        match_rows_refresh(expert_ids=ids)
