"""Writes of oversight policies: a policy is created with its first version, changed only by
adding a version, and one of an organization's policies is its default. Each write is one
transaction with its audit log entry."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from pydantic import ValidationError as PydanticValidationError

from marketplace.models import Organization
from marketplace.services import audit_record
from oversight.models import OversightSettings, Policy, PolicyVersion, policy_name_validator
from oversight.rules import Rule, rules_dump, rules_parse
from oversight.selectors import no_default_forget


class PolicyNameTaken(ValidationError):
    """Another policy of the organization has this name (the API answers 409)."""


def _pydantic_message(exc: PydanticValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"rules{where}: {message}"


def rules_validate(raw: Any) -> list[Rule]:
    """Rules from JSON data, or a ValidationError on `rules` saying what is wrong and where."""
    try:
        return rules_parse(raw)
    except PydanticValidationError as exc:
        raise ValidationError({"rules": _pydantic_message(exc)}) from exc


def _name_validate(name: str) -> None:
    try:
        policy_name_validator(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages[0]}) from exc


def _audit(*, actor, action: str, policy: Policy, after: dict, api_key=None) -> None:
    if api_key is not None:
        after = {**after, "api_key": str(api_key)}
    audit_record(
        actor=actor,
        action=action,
        object_type="oversight_policy",
        object_id=policy.pk,
        after=after,
        organization=policy.organization,
    )


def _default_set_locked(*, policy: Policy) -> None:
    """Make `policy` its organization's only default (inside the caller's transaction). The
    organization's row lock serializes default changes, so the one-default constraint is never
    raced into an error."""
    Organization.objects.select_for_update().only("pk").get(pk=policy.organization_id)
    Policy.objects.filter(organization_id=policy.organization_id, is_default=True).exclude(
        pk=policy.pk
    ).update(is_default=False)
    Policy.objects.filter(pk=policy.pk).update(is_default=True)
    policy.is_default = True
    # Forgotten now (this connection's later reads see the default) and again at commit (in
    # case another thread noted "no default" meanwhile, from what was committed then).
    organization_id = policy.organization_id
    no_default_forget(organization_id=organization_id)
    transaction.on_commit(lambda: no_default_forget(organization_id=organization_id))


def policy_create(
    *,
    organization,
    name: str,
    rules: Any,
    note: str = "",
    is_default: bool = False,
    actor=None,
    api_key=None,
) -> Policy:
    """A new policy with version 1 of `rules` (JSON data or Rule objects)."""
    _name_validate(name)
    parsed = rules_validate(rules_dump(rules) if _are_rules(rules) else rules)
    with transaction.atomic(durable=True):
        try:
            with transaction.atomic():
                policy = Policy.objects.create(organization=organization, name=name)
        except IntegrityError as exc:
            raise PolicyNameTaken(
                {"name": f"A policy named {name!r} already exists; PUT it to add a version."}
            ) from exc
        version = PolicyVersion.objects.create(
            policy=policy,
            number=1,
            rules=rules_dump(parsed),
            note=note,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        if is_default:
            _default_set_locked(policy=policy)
        _audit(
            actor=actor,
            action="oversight_policy.created",
            policy=policy,
            after={"name": name, "version": 1, "is_default": is_default, "rules": version.rules},
            api_key=api_key,
        )
    return policy


def _are_rules(rules: Any) -> bool:
    return isinstance(rules, list) and bool(rules) and all(isinstance(r, Rule) for r in rules)


def policy_version_add(
    *, policy: Policy, rules: Any, note: str = "", actor=None, api_key=None
) -> PolicyVersion:
    """The policy's next version (numbers follow each other under the policy's row lock)."""
    parsed = rules_validate(rules_dump(rules) if _are_rules(rules) else rules)
    with transaction.atomic(durable=True):
        locked = Policy.objects.select_for_update().select_related("organization").get(pk=policy.pk)
        latest = locked.versions.aggregate(latest=Max("number"))["latest"] or 0
        version = PolicyVersion.objects.create(
            policy=locked,
            number=latest + 1,
            rules=rules_dump(parsed),
            note=note,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        _audit(
            actor=actor,
            action="oversight_policy.version_added",
            policy=locked,
            after={"name": locked.name, "version": version.number, "rules": version.rules},
            api_key=api_key,
        )
    return version


def policy_set_default(*, policy: Policy, actor=None, api_key=None) -> Policy:
    """Make this the organization's default policy (the one applied when a request names none)."""
    with transaction.atomic(durable=True):
        locked = Policy.objects.select_related("organization").get(pk=policy.pk)
        _default_set_locked(policy=locked)
        _audit(
            actor=actor,
            action="oversight_policy.default_set",
            policy=locked,
            after={"name": locked.name, "is_default": True},
            api_key=api_key,
        )
    return locked


def oversight_settings_set(
    *, organization, auto_approved_webhook: bool, actor=None, api_key=None
) -> OversightSettings:
    with transaction.atomic(durable=True):
        found, _ = OversightSettings.objects.update_or_create(
            organization=organization, defaults={"auto_approved_webhook": auto_approved_webhook}
        )
        after: dict[str, Any] = {"auto_approved_webhook": auto_approved_webhook}
        if api_key is not None:
            after["api_key"] = str(api_key)
        audit_record(
            actor=actor,
            action="oversight_settings.updated",
            object_type="organization",
            object_id=organization.pk,
            after=after,
            organization=organization,
        )
    return found
