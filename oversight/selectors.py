"""Reads of oversight policies. The create path reads the policy in force through
`policy_in_force`, which costs one small query when the organization has a policy, and none
when it has no default (a per-process note, see `_NO_DEFAULT`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.db.models import Max, Prefetch

from oversight.models import OversightSettings, Policy, PolicyVersion
from oversight.rules import Rule, rules_parse


def policy_get_for_organization(*, organization, name: str) -> Policy | None:
    """The organization's policy of that name, or None (another organization's is None too)."""
    return Policy.objects.filter(organization=organization, name=name).first()


def policy_list(*, organization) -> list[Policy]:
    """The organization's policies by name, each with `latest_number` (its current version)."""
    return list(
        Policy.objects.filter(organization=organization)
        .annotate(latest_number=Max("versions__number"))
        .order_by("name")
    )


def policy_default_for_organization(*, organization) -> Policy | None:
    return Policy.objects.filter(organization=organization, is_default=True).first()


def policy_with_versions(*, organization, name: str) -> Policy | None:
    """The policy with `versions` prefetched, newest first (and their authors)."""
    versions = PolicyVersion.objects.select_related("created_by").order_by("-number")
    return (
        Policy.objects.filter(organization=organization, name=name)
        .prefetch_related(Prefetch("versions", queryset=versions))
        .first()
    )


def oversight_settings_for(*, organization_id) -> OversightSettings:
    """The organization's settings; an unsaved row of defaults when it has none."""
    found = OversightSettings.objects.filter(organization_id=organization_id).first()
    return found or OversightSettings(organization_id=organization_id)


# The create path --------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInForce:
    """A policy version as the create path applies it."""

    version: PolicyVersion  # with `policy` loaded (its name is in the API object)
    rules: list[Rule]


# Versions never change, so their parsed rules are kept per process (bounded), by the version's
# id and its policy's (a UUID: an id that a rolled-back SQLite transaction gave out again
# belongs to another policy).
_PARSED: dict[tuple[int, str], list[Rule]] = {}
_PARSED_MAX = 1000
_LOCK = threading.Lock()

# Organizations found without a default policy, until a monotonic time. A stale note only means
# that, for at most NO_DEFAULT_SECONDS after an organization's first default policy is set on
# another process, its requests without `policy` are reviewed as before (the safe side: nothing
# is auto-approved by a policy the process has not seen). This process forgets its note as soon
# as a default is set here.
NO_DEFAULT_SECONDS = 5.0
_NO_DEFAULT: dict[str, float] = {}


def no_default_forget(*, organization_id) -> None:
    _NO_DEFAULT.pop(str(organization_id), None)


def policy_cache_clear() -> None:
    """Tests and a flush: forget every note of this process."""
    with _LOCK:
        _PARSED.clear()
        _NO_DEFAULT.clear()


def _rules_of(version: PolicyVersion) -> list[Rule]:
    key = (version.pk, str(version.policy_id))
    rules = _PARSED.get(key)
    if rules is None:
        rules = rules_parse(
            PolicyVersion.objects.values_list("rules", flat=True).get(pk=version.pk)
        )
        with _LOCK:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[key] = rules
    return rules


def _latest_version(*, organization_id, name: str | None) -> PolicyVersion | None:
    versions = PolicyVersion.objects.filter(policy__organization_id=organization_id)
    versions = (
        versions.filter(policy__name=name) if name else versions.filter(policy__is_default=True)
    )
    # The rules are read once per process and version (_rules_of), not on every create.
    return (
        versions.select_related("policy")
        .only("pk", "number", "policy", "policy__name", "policy__organization_id")
        .order_by("-number")
        .first()
    )


def policy_in_force(*, organization_id, name: str | None) -> PolicyInForce | None:
    """The current version of the named policy, or of the default one when `name` is None;
    None when there is no such policy (the caller refuses an unknown name)."""
    key = str(organization_id)
    if name is None and _NO_DEFAULT.get(key, 0.0) > time.monotonic():
        return None
    version = _latest_version(organization_id=organization_id, name=name)
    if version is None:
        if name is None:
            _NO_DEFAULT[key] = time.monotonic() + NO_DEFAULT_SECONDS
        return None
    return PolicyInForce(version=version, rules=_rules_of(version))
