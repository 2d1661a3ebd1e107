"""Exports under /api/v1 (docs/contract/exports.md): a company queues an export of its reviewed
data in a training format, follows its progress, and downloads the file once it is completed."""

from __future__ import annotations

import base64

from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from datasets import selectors, services
from datasets.models import Export
from datasets.schemas import ExportFiltersIn, ExportIn, ExportListOut, ExportOut
from marketplace.api import ApiError, company_auth, errors
from marketplace.cursors import cursor_encode, cursor_or_422, uuid_or_404
from marketplace.schema_types import Line

router = Router(tags=["exports"])

CONTENT_TYPE = "application/x-ndjson"
DOWNLOAD_RESPONSE = {
    200: {
        "description": "The JSON Lines file, streamed; `Repr-Digest` carries its SHA-256.",
        "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _get_for_org(request: HttpRequest, export_id: str) -> Export:
    """The one fetcher: another organization's id is a 404 like an unknown one."""
    pk = uuid_or_404(export_id)
    try:
        return selectors.export_get_for_org(organization=request.organization, pk=pk)
    except Http404 as exc:
        raise ApiError(404, "not_found", "Not found.") from exc


def _actor(request: HttpRequest):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class ExportListFilters(Schema):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Line | None = Field(default=None, max_length=500)


@router.post(
    "/exports",
    auth=company_auth,
    response={201: ExportOut, **errors(400, 401, 403, 409, 413, 422, 429)},
    summary="Queue an export of reviewed data (JSON Lines)",
)
def export_create(request: HttpRequest, payload: ExportIn):
    """A background task writes the file; follow `status` and `progress` on GET /exports/{id}.
    409 `too_many_exports` while the organization has EXPORTS_MAX_ACTIVE queued or running."""
    try:
        export = services.export_create(
            organization=request.organization,
            format=payload.format,
            filters=payload.filters or ExportFiltersIn(),
            user=_actor(request),
            api_key=getattr(request, "api_key", None),
        )
    except services.ExportRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, field=exc.field) from exc
    return Status(201, selectors.export_to_api(export))


@router.get(
    "/exports",
    auth=company_auth,
    response={200: ExportListOut, **errors(401, 422, 429)},
    summary="List exports, newest first",
)
def export_list(request: HttpRequest, filters: Query[ExportListFilters]):
    """Cursor pagination over (created_at, id): pass `next_cursor` back as `cursor`."""
    limit = filters.limit
    qs = selectors.exports_for_org(organization=request.organization)
    if filters.cursor:
        created_at, pk = cursor_or_422(filters.cursor)
        qs = qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    page = list(qs[: limit + 1])
    next_cursor = (
        cursor_encode(page[limit - 1].created_at, page[limit - 1].pk) if len(page) > limit else None
    )
    return {"data": [selectors.export_to_api(e) for e in page[:limit]], "next_cursor": next_cursor}


@router.get(
    "/exports/{export_id}",
    auth=company_auth,
    response={200: ExportOut, **errors(401, 404, 429)},
    summary="Get one export: status, progress, SHA-256, schema version, rows",
)
def export_get(request: HttpRequest, export_id: str):
    return selectors.export_to_api(_get_for_org(request, export_id))


@router.get(
    "/exports/{export_id}/download",
    auth=company_auth,
    response=errors(401, 404, 409, 429),
    openapi_extra={"responses": DOWNLOAD_RESPONSE},
    summary="Download a completed export (streamed JSON Lines)",
)
def export_download(request: HttpRequest, export_id: str):
    """409 `export_not_ready` until the export is completed. The body is the file as stored,
    read in chunks; `Repr-Digest: sha-256=:<base64>:` and `ETag` carry its SHA-256."""
    export = _get_for_org(request, export_id)
    if export.status != Export.Status.COMPLETED or not export.file:
        raise ApiError(
            409,
            "export_not_ready",
            f"This export is {export.status}; it can be downloaded once completed.",
        )
    response = FileResponse(
        default_storage.open(export.file.name, "rb"),
        as_attachment=True,
        filename=f"inloop-{export.format}-{export.pk}.jsonl",
        content_type=CONTENT_TYPE,
    )
    digest = base64.b64encode(bytes.fromhex(export.sha256)).decode()
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    response["ETag"] = f'"{export.sha256}"'
    response["Inloop-Schema-Version"] = export.schema_version
    return response
