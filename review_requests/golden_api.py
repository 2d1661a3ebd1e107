"""Golden items under /api/v1 (docs/contract/golden.md): a company lists its own pool of golden
items and marks one of its completed review requests as a golden item, by the rules of the web
action (review_requests.golden.golden_item_from_request)."""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import BaseModel, ConfigDict, Field

from experts.selectors import golden_item_to_api, golden_items_page
from marketplace.api import ApiError, company_auth, errors
from marketplace.cursors import cursor_encode, cursor_or_422
from marketplace.schema_types import Line
from review_requests import golden
from review_requests.api import _actor, _get_for_org

router = Router(tags=["golden"])


class GoldenItemOut(BaseModel):
    id: str
    specialization: str
    title: str
    content: dict[str, Any]
    prompt: str
    guidelines: str
    rubric: list[dict[str, Any]]
    max_hours: float
    expected_verdict: Literal["approved", "rejected", "corrected"] | None
    expected_scores: dict[str, float]
    tolerance: float
    source_review_request_id: str | None
    active: bool
    created_at: str


class GoldenItemListOut(BaseModel):
    data: list[GoldenItemOut]
    next_cursor: str | None


class GoldenMarkIn(BaseModel):
    # Unknown fields are refused: a misspelt `tolerence` must not mark with the default.
    model_config = ConfigDict(extra="forbid")

    tolerance: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="How far (in rubric points) a reviewer's score may be from the expected one "
        "and still count as right.",
    )


class GoldenItemFilters(Schema):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Line | None = Field(default=None, max_length=500)


@router.get(
    "/golden-items",
    auth=company_auth,
    response={200: GoldenItemListOut, **errors(401, 422, 429)},
    summary="List the organization's golden items, newest first",
)
def golden_item_list(request: HttpRequest, filters: Query[GoldenItemFilters]):
    """The organization's own pool (not the platform's items). Cursor pagination over
    (created_at, id): pass `next_cursor` back as `cursor`."""
    after = cursor_or_422(filters.cursor, ids="int") if filters.cursor else None
    rows = [
        golden_item_to_api(item)
        for item in golden_items_page(
            organization=request.organization, after=after, limit=filters.limit + 1
        )
    ]
    next_cursor = (
        cursor_encode(rows[filters.limit - 1]["created_at"], int(rows[filters.limit - 1]["id"]))
        if len(rows) > filters.limit
        else None
    )
    return {"data": rows[: filters.limit], "next_cursor": next_cursor}


# What each refusal of golden_item_from_request answers.
_REFUSALS = {"not_completed": 409, "already_golden": 409, "no_verdict": 409}


def _marker(request: HttpRequest):
    """Who marks: an API key of the organization, or an owner's or admin's session (403 for a
    plain member, as on the request's page)."""
    from marketplace.selectors import membership_for_user

    if getattr(request, "api_key", None) is not None:
        return None
    membership = membership_for_user(user=request.user)
    if membership is None or not membership.is_admin:
        raise ApiError(403, "forbidden", "Only owners and admins can mark golden items.")
    return _actor(request)


@router.post(
    "/review-requests/{review_request_id}/golden",
    auth=company_auth,
    response={201: GoldenItemOut, **errors(400, 401, 403, 404, 409, 413, 422, 429)},
    summary="Mark a completed review request as a golden item of the organization's pool",
)
def review_request_mark_golden(
    request: HttpRequest, review_request_id: str, payload: GoldenMarkIn | None = None
):
    """The request's content becomes the item; its result's verdict and scores the expected
    answer. 409 `not_completed` unless the request is completed, `already_golden` the second
    time, `no_verdict` when the result has no single verdict; 404 for another organization's
    request."""
    actor = _marker(request)
    review_request = _get_for_org(request, review_request_id)
    try:
        item = golden.golden_item_from_request(
            review_request=review_request,
            actor=actor,
            tolerance=(payload or GoldenMarkIn()).tolerance,
        )
    except DjangoValidationError as exc:
        code = getattr(exc, "code", None)
        if code in _REFUSALS:
            raise ApiError(_REFUSALS[code], code, " ".join(exc.messages)) from exc
        raise
    return Status(201, golden_item_to_api(item))
