"""review_requests endpoints under /api/v1: companies create and follow review requests; experts
see, accept and decline their offers (contract/API.md)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Header, Query, Router, Schema, Status
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from marketplace.api import ApiError, company_auth, errors, expert_auth
from marketplace.cursors import cursor_decode, cursor_encode, uuid_or_404
from marketplace.schema_types import Line
from review_requests import selectors, services
from review_requests.idempotency import (
    IdempotencyConflict,
    body_hash,
    idempotent_call,
)
from review_requests.models import Offer, ReviewRequest
from review_requests.schemas import (
    REQUEST_STATUSES,
    AcceptOut,
    BatchIn,
    BatchOut,
    DeclineOut,
    OfferListOut,
    ReviewRequestIn,
    ReviewRequestListOut,
    ReviewRequestOut,
)
from review_requests.serializers import (
    created_review_request_to_api,
    review_request_to_api,
    review_requests_to_api_rows,
)

router = Router(tags=["review_requests"])

# The endpoints are sync views: Django runs each in one hop to a worker thread, where ninja runs
# the key check and the view together. Written async (the view's database work and ninja's key
# check in two hops), a single create was 2-9% slower with one client and the same with eight
# (daphne, both variants interleaved in one run; README, "API benchmark").

IDEMPOTENCY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    min_length=1,
    max_length=255,
    description="Same key + same body within 24 h replays the first response; "
    "another body is 409 idempotency_conflict.",
)


def _refused(exc: services.Refused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, field=exc.field)


def _get_for_org(request: HttpRequest, review_request_id: str) -> ReviewRequest:
    """The one fetcher: another organization's id is a 404."""
    pk = uuid_or_404(review_request_id)
    return selectors.review_request_get_for_org(organization=request.organization, pk=pk)


def _actor(request: HttpRequest):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _create(
    request: HttpRequest,
    response: HttpResponse,
    *,
    endpoint: str,
    key: str | None,
    items: list[dict],
    batch: bool,
) -> Status:
    def action() -> tuple[int, dict]:
        try:
            created = services.review_requests_create(
                organization=request.organization,
                items=items,
                api_key=getattr(request, "api_key", None),
                user=_actor(request),
                idempotency_key=key,
                batch=batch,
            )
        except DjangoValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise ApiError(422, "validation_error", " ".join(messages), field=field) from exc
        # Fresh objects: no assignments yet, so no query for them.
        data = [created_review_request_to_api(rr) for rr in created]
        return 201, ({"data": data} if batch else data[0])

    if key is None:
        return Status(*action())
    try:
        outcome = idempotent_call(
            organization=request.organization,
            endpoint=endpoint,
            key=key,
            digest=body_hash(request.body),
            action=action,
        )
    except IdempotencyConflict as exc:
        raise ApiError(
            409,
            "idempotency_conflict",
            "This Idempotency-Key was already used with a different body.",
            field="Idempotency-Key",
        ) from exc
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    # A replayed body is validated like a fresh one: it went out under the same schema.
    return Status(outcome.status, outcome.body)


@router.post(
    "/review-requests",
    auth=company_auth,
    response={201: ReviewRequestOut, **errors(400, 401, 403, 409, 413, 422, 429)},
    summary="Create a review request",
)
def review_request_create(
    request: HttpRequest,
    response: HttpResponse,
    payload: ReviewRequestIn,
    idempotency_key: Line | None = IDEMPOTENCY_HEADER,
):
    """Submit one AI output for expert review. Matching starts as soon as it is stored."""
    return _create(
        request,
        response,
        endpoint="review_requests.create",
        key=idempotency_key,
        items=[payload.model_dump()],
        batch=False,
    )


@router.post(
    "/review-requests/batch",
    auth=company_auth,
    response={201: BatchOut, **errors(400, 401, 403, 409, 413, 422, 429)},
    summary="Create up to 100 review requests, all or nothing",
)
def review_request_batch(
    request: HttpRequest,
    response: HttpResponse,
    payload: BatchIn,
    idempotency_key: Line | None = IDEMPOTENCY_HEADER,
):
    """One transaction and one matching pass: either every request is created or none is."""
    return _create(
        request,
        response,
        endpoint="review_requests.batch",
        key=idempotency_key,
        items=[item.model_dump() for item in payload.requests],
        batch=True,
    )


class ListFilters(Schema):
    status: Line | None = Field(
        default=None, description="One of: " + ", ".join(REQUEST_STATUSES) + "."
    )
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Line | None = Field(default=None, max_length=500)

    # Custom errors, so the 422's message is "status: must be one of ..." with no pydantic
    # prefix. (A Literal would say the same but change the OpenAPI document's parameter.)
    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None) -> str | None:
        if value and value not in REQUEST_STATUSES:
            raise PydanticCustomError(
                "status", "must be one of " + ", ".join(REQUEST_STATUSES) + "."
            )
        return value

    @field_validator("cursor")
    @classmethod
    def _a_cursor_we_returned(cls, value: str | None) -> str | None:
        if value:
            try:
                cursor_decode(value)
            except ValueError as exc:
                raise PydanticCustomError("cursor", "not a cursor this API returned.") from exc
        return value

    def position(self) -> tuple[datetime, uuid.UUID] | None:
        """Where the page starts: after the (created_at, id) the cursor names."""
        return cursor_decode(self.cursor) if self.cursor else None


@router.get(
    "/review-requests",
    auth=company_auth,
    response={200: ReviewRequestListOut, **errors(401, 422, 429)},
    summary="List review requests, newest first",
)
def review_request_list(request: HttpRequest, filters: Query[ListFilters]):
    """Cursor pagination over (created_at, id): pass `next_cursor` back as `cursor`."""
    qs = ReviewRequest.objects.filter(organization=request.organization)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if position := filters.position():
        created_at, pk = position
        qs = qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    # Serialized by the contract serializer (from rows: no model instances for a page of 100),
    # then validated by ninja against ReviewRequestListOut on the way out.
    page = review_requests_to_api_rows(qs.order_by("-created_at", "-id")[: filters.limit + 1])
    next_cursor = None
    if len(page) > filters.limit:
        last = page[filters.limit - 1]
        next_cursor = cursor_encode(last["created_at"], last["id"])
    return {"data": page[: filters.limit], "next_cursor": next_cursor}


@router.get(
    "/review-requests/{review_request_id}",
    auth=company_auth,
    response={200: ReviewRequestOut, **errors(401, 404, 429)},
    summary="Get one review request",
)
def review_request_get(request: HttpRequest, review_request_id: str):
    # Another organization's id finds no row, a 404 like an unknown one.
    pk = uuid_or_404(review_request_id)
    found = selectors.review_request_api_object(organization=request.organization, pk=pk)
    if found is None:
        raise ApiError(404, "not_found", "Not found.")
    return found


@router.post(
    "/review-requests/{review_request_id}/cancel",
    auth=company_auth,
    response={200: ReviewRequestOut, **errors(401, 403, 404, 409, 429)},
    summary="Cancel a review request while nothing has been billed",
)
def review_request_cancel(request: HttpRequest, review_request_id: str):
    rr = _get_for_org(request, review_request_id)
    try:
        services.request_cancel(review_request=rr, actor=_actor(request))
    except services.Refused as exc:
        raise _refused(exc) from exc
    return review_request_to_api(_get_for_org(request, review_request_id))


# Expert endpoints (session + CSRF) ---------------------------------------------------------


@router.get(
    "/me/offers",
    auth=expert_auth,
    response={200: OfferListOut, **errors(401, 403, 429)},
    summary="My open offers",
    tags=["offers"],
)
def my_offers(request: HttpRequest):
    from review_requests.matching import offer_to_api, offers_open_for_user

    return {"data": [offer_to_api(o) for o in offers_open_for_user(user=request.user)]}


@router.post(
    "/offers/{offer_id}/accept",
    auth=expert_auth,
    response={200: AcceptOut, **errors(401, 403, 404, 409, 410, 429)},
    summary="Accept an offer (first accept wins the slot)",
    tags=["offers"],
)
def offer_accept(request: HttpRequest, offer_id: str):
    pk = uuid_or_404(offer_id)
    try:
        assignment = services.offer_accept(offer_id=pk, expert=request.user)
    except services.Refused as exc:
        raise _refused(exc) from exc
    return {
        "assignment_id": str(assignment.pk),
        "workspace_url": f"/workspace/{assignment.pk}/",
    }


@router.post(
    "/offers/{offer_id}/decline",
    auth=expert_auth,
    response={200: DeclineOut, **errors(401, 403, 404, 409, 429)},
    summary="Decline an offer",
    tags=["offers"],
)
def offer_decline(request: HttpRequest, offer_id: str):
    pk = uuid_or_404(offer_id)
    try:
        services.offer_decline(offer_id=pk, expert=request.user)
    except services.Refused as exc:
        raise _refused(exc) from exc
    status = Offer.objects.filter(pk=pk).values_list("status", flat=True).first()
    return {"id": str(pk), "status": status or "declined"}
