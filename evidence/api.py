"""GET /api/v1/review-requests/{id}/evidence: the request's evidence export, JSON by default,
PDF with ?format=pdf (docs/contract/evidence.md)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema
from pydantic import BaseModel, ConfigDict

from evidence import exports
from marketplace.api import ApiError, company_auth, errors

router = Router(tags=["evidence"])


class EvidenceQuery(Schema):
    format: Literal["json", "pdf"] = "json"


class EntryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: str
    position: int
    kind: str
    review_request_id: str | None
    schema_version: int
    created_at: str
    body: dict[str, Any]
    previous_hash: str
    entry_hash: str


class EvidenceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_name: Literal["inloop.evidence.export"]
    schema_version: int
    exported_at: str
    organization: dict[str, Any]
    scope: dict[str, Any]
    hash_rule: str
    chain_head: dict[str, Any]
    latest_anchor: dict[str, Any] | None
    entries: list[EntryOut]


# The 200 is JSON (EvidenceOut) or, with format=pdf, a PDF: both named, since openapi_extra's
# content replaces what ninja writes for the response schema.
PDF_RESPONSE = {
    "responses": {
        "200": {
            "description": "The record as JSON, or as a PDF with format=pdf.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EvidenceOut"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
}


@router.get(
    "/review-requests/{review_request_id}/evidence",
    auth=company_auth,
    response={200: EvidenceOut, **errors(401, 404, 422, 429)},
    summary="The oversight evidence of a completed request (JSON, or PDF with format=pdf)",
    openapi_extra=PDF_RESPONSE,
)
def review_request_evidence(
    request: HttpRequest, review_request_id: str, query: Query[EvidenceQuery]
):
    try:
        pk = uuid.UUID(str(review_request_id))
        export = exports.request_export(organization=request.organization, review_request_id=pk)
    except (ValueError, Http404) as exc:
        raise ApiError(404, "not_found", "No evidence record for this request.") from exc
    if query.format == "pdf":
        return exports.export_response(export, fmt="pdf", filename=f"evidence-{pk}")
    return export
