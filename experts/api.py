"""experts endpoints under /api/v1."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router
from pydantic import BaseModel

from experts.selectors import specialization_list

router = Router(tags=["experts"])


class SpecializationOut(BaseModel):
    slug: str
    name: str
    parent: str | None
    requires_credentials: bool


class SpecializationList(BaseModel):
    data: list[SpecializationOut]


@router.get(
    "/specializations",
    response=SpecializationList,
    auth=None,
    summary="The specialization taxonomy (public)",
    description=(
        "Every node of the taxonomy, parents before children. Use a `slug` as a review "
        "request's `specialization`; a request for a parent is matched to experts of any of "
        "its children. `requires_credentials`: experts are matched only with a verified, "
        "unexpired credential for the top-level field. No key needed; cacheable for an hour."
    ),
)
def specializations(request: HttpRequest, response: HttpResponse):
    response["Cache-Control"] = "public, max-age=3600"
    return {
        "data": [
            {
                "slug": s.slug,
                "name": s.name,
                "parent": s.parent.slug if s.parent_id else None,
                "requires_credentials": s.requires_credentials,
            }
            for s in specialization_list()
        ]
    }
