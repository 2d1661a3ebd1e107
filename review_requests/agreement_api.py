"""How far independent reviewers agreed, by API: Krippendorff's alpha over the organization's
requests with two or more independent reviews, in all, per specialization and per month
(docs/contract/independent-reviews.md, "Agreement over requests"). Read only."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from experts.selectors import specialization_exists
from marketplace.api import ApiError, company_auth, errors
from marketplace.schema_types import Line
from oversight.selectors import policy_get_for_organization
from review_requests.agreement_selectors import AgreementScope, agreement_report
from review_requests.oversight_api import Period

router = Router(tags=["agreement"])

DEFAULT_DAYS = 365


class AgreementQuery(Period):
    specialization: Line | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A slug from GET /api/v1/specializations: its requests and its subtree's.",
    )
    policy: Line | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        description="An oversight policy's name: only the requests it routed (any version).",
    )


class SpecializationAgreementOut(BaseModel):
    specialization: str
    requests: int
    verdict: float | None


class MonthAgreementOut(BaseModel):
    month: str = Field(description="YYYY-MM (UTC), the month the requests were created.")
    requests: int
    verdict: float | None


class AgreementOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from")
    last: date = Field(alias="to")
    specialization: str | None
    policy: str | None
    requests: int = Field(description="Requests with two or more independent reviews.")
    verdict: float | None = Field(description="Krippendorff's alpha of the verdicts (nominal).")
    scores: dict[str, float | None] = Field(
        description="Krippendorff's alpha (ordinal) per rubric score key."
    )
    by_specialization: list[SpecializationAgreementOut]
    by_month: list[MonthAgreementOut]


def _scope(request: HttpRequest, query: AgreementQuery) -> AgreementScope:
    """The caller's organization's requests, narrowed as asked: an unknown specialization is a
    422 naming it, an unknown policy (or another organization's) a 404."""
    first, last = query.resolved(DEFAULT_DAYS)
    if query.specialization and not specialization_exists(slug=query.specialization):
        raise ApiError(
            422,
            "validation_error",
            f"Unknown specialization {query.specialization!r}; see GET /api/v1/specializations.",
            field="specialization",
        )
    policy_id = None
    if query.policy:
        policy = policy_get_for_organization(organization=request.organization, name=query.policy)
        if policy is None:
            raise ApiError(404, "not_found", f"No oversight policy named {query.policy!r}.")
        policy_id = policy.pk
    return AgreementScope(
        organization_id=request.organization.pk,
        specialization_slug=query.specialization or "",
        policy_id=policy_id,
        first=first,
        last=last,
    )


@router.get(
    "/agreement",
    auth=company_auth,
    response={200: AgreementOut, **errors(401, 404, 422, 429)},
    summary="How far independent reviewers agreed, in all, per specialization and per month",
    by_alias=True,
)
def agreement_figures(request: HttpRequest, query: Query[AgreementQuery]):
    """Krippendorff's alpha over the organization's requests created in the period that have two
    or more independent reviews (adjudicators' never count): nominal for verdicts, ordinal for
    rubric scores. `null` where fewer than two values can be compared."""
    scope = _scope(request, query)
    report = agreement_report(scope=scope)
    return {
        "from": scope.first,
        "to": scope.last,
        "specialization": query.specialization,
        "policy": query.policy,
        **report,
    }
