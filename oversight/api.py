"""Oversight policies under /api/v1 (docs/contract/oversight.md): list, create, read with
versions, add a version, set the default; and the organization's oversight settings. Any API
key of the organization may write; in a browser, owners and admins only."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Router, Status
from pydantic import BaseModel, ConfigDict, Field

from marketplace.api import ApiError, company_auth, errors
from marketplace.schema_types import Line
from oversight import selectors, services
from oversight.models import Policy
from oversight.rules import Rule, Rules

router = Router(tags=["oversight"])

EXAMPLE_RULES = [
    {"name": "doubtful", "when": {"confidence_lt": 0.7}, "outcome": "review"},
    {"name": "legal", "when": {"specialization": "law"}, "outcome": "review"},
    {"name": "confident", "when": {"confidence_gte": 0.95}, "outcome": "auto_approve"},
    {"name": "the rest", "outcome": "sample", "audit_rate": 0.1},
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyIn(_Strict):
    name: Line = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    rules: Rules
    note: Line = Field(default="", max_length=500)
    is_default: bool = Field(default=False, strict=True)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "triage", "rules": EXAMPLE_RULES, "is_default": True}]
        },
    )


class PolicyVersionIn(_Strict):
    rules: Rules
    note: Line = Field(default="", max_length=500)


class OversightSettingsIn(_Strict):
    auto_approved_webhook: bool = Field(strict=True)


class PolicyVersionOut(BaseModel):
    number: int
    rules: list[Rule]
    note: str
    created_at: str
    created_by: str | None


class PolicyOut(BaseModel):
    name: str
    is_default: bool
    created_at: str
    version: int
    # The version in force, and every version newest first: on one policy, not in the list.
    rules: list[Rule] | None = None
    versions: list[PolicyVersionOut] | None = None


class PolicyListOut(BaseModel):
    data: list[PolicyOut]


class OversightSettingsOut(BaseModel):
    auto_approved_webhook: bool = Field(strict=True)


def _writer(request: HttpRequest) -> dict[str, Any]:
    """Who writes: an API key, or a browser session of an owner or admin (else 403)."""
    from marketplace.selectors import membership_for_user

    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return {"actor": None, "api_key": api_key}
    membership = membership_for_user(user=request.user)
    if membership is None or not membership.is_admin:
        raise ApiError(403, "forbidden", "Only owners and admins can change oversight policies.")
    return {"actor": request.user, "api_key": None}


def _invalid(exc: DjangoValidationError) -> ApiError:
    field, messages = next(iter(exc.message_dict.items()))
    if isinstance(exc, services.PolicyNameTaken):
        return ApiError(409, "policy_exists", " ".join(messages), field=field)
    return ApiError(422, "validation_error", " ".join(messages), field=field)


def _version_out(version) -> dict[str, Any]:
    return {
        "number": version.number,
        "rules": version.rules,
        "note": version.note,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by.email if version.created_by else None,
    }


def _detail(policy: Policy) -> dict[str, Any]:
    versions = list(policy.versions.all())  # prefetched, newest first
    return {
        "name": policy.name,
        "is_default": policy.is_default,
        "created_at": policy.created_at.isoformat(),
        "version": versions[0].number,
        "rules": versions[0].rules,
        "versions": [_version_out(v) for v in versions],
    }


def _policy_or_404(request: HttpRequest, name: str) -> Policy:
    policy = selectors.policy_with_versions(organization=request.organization, name=name)
    if policy is None:
        raise ApiError(404, "not_found", "No oversight policy of that name.")
    return policy


@router.get(
    "/oversight-policies",
    auth=company_auth,
    response={200: PolicyListOut, **errors(401, 429)},
    summary="List the organization's oversight policies",
)
def policy_list(request: HttpRequest):
    return {
        "data": [
            {
                "name": p.name,
                "is_default": p.is_default,
                "created_at": p.created_at.isoformat(),
                "version": p.latest_number,
            }
            for p in selectors.policy_list(organization=request.organization)
        ]
    }


@router.post(
    "/oversight-policies",
    auth=company_auth,
    response={201: PolicyOut, **errors(400, 401, 403, 409, 422, 429)},
    summary="Create an oversight policy (its version 1)",
)
def policy_create(request: HttpRequest, payload: PolicyIn):
    try:
        policy = services.policy_create(
            organization=request.organization,
            name=payload.name,
            rules=payload.rules,
            note=payload.note,
            is_default=payload.is_default,
            **_writer(request),
        )
    except DjangoValidationError as exc:
        raise _invalid(exc) from exc
    return Status(201, _detail(_policy_or_404(request, policy.name)))


@router.get(
    "/oversight-policies/{name}",
    auth=company_auth,
    response={200: PolicyOut, **errors(401, 404, 429)},
    summary="Get an oversight policy with its versions, newest first",
)
def policy_get(request: HttpRequest, name: str):
    return _detail(_policy_or_404(request, name))


@router.put(
    "/oversight-policies/{name}",
    auth=company_auth,
    response={200: PolicyOut, **errors(400, 401, 403, 404, 422, 429)},
    summary="Change an oversight policy: its rules become a new version",
)
def policy_version_add(request: HttpRequest, name: str, payload: PolicyVersionIn):
    writer = _writer(request)
    policy = _policy_or_404(request, name)
    try:
        services.policy_version_add(policy=policy, rules=payload.rules, note=payload.note, **writer)
    except DjangoValidationError as exc:
        raise _invalid(exc) from exc
    return _detail(_policy_or_404(request, name))


@router.post(
    "/oversight-policies/{name}/default",
    auth=company_auth,
    response={200: PolicyOut, **errors(401, 403, 404, 429)},
    summary="Make this the policy applied when a request names none",
)
def policy_set_default(request: HttpRequest, name: str):
    writer = _writer(request)
    services.policy_set_default(policy=_policy_or_404(request, name), **writer)
    return _detail(_policy_or_404(request, name))


@router.get(
    "/oversight-settings",
    auth=company_auth,
    response={200: OversightSettingsOut, **errors(401, 429)},
    summary="The organization's oversight settings",
)
def settings_get(request: HttpRequest):
    found = selectors.oversight_settings_for(organization_id=request.organization.pk)
    return {"auto_approved_webhook": found.auto_approved_webhook}


@router.put(
    "/oversight-settings",
    auth=company_auth,
    response={200: OversightSettingsOut, **errors(400, 401, 403, 422, 429)},
    summary="Change the organization's oversight settings",
)
def settings_set(request: HttpRequest, payload: OversightSettingsIn):
    found = services.oversight_settings_set(
        organization=request.organization,
        auto_approved_webhook=payload.auto_approved_webhook,
        **_writer(request),
    )
    return {"auto_approved_webhook": found.auto_approved_webhook}
