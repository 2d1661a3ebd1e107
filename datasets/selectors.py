"""Reads of exports: the one fetcher per export, the API object, and the source rows an export
reads (plain `values()` rows over joins: no model instances, no query per row)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from datasets.formats import READS_REVIEWS, REQUEST_FIELDS, REVIEW_FIELDS, SCHEMA_VERSIONS
from datasets.models import Export
from datasets.schemas import ExportFiltersIn, filters_parse, iso
from review_requests.forms import specialization_choices
from review_requests.models import Review, ReviewRequest


def exports_for_org(*, organization) -> QuerySet[Export]:
    return Export.objects.filter(organization=organization).order_by("-created_at", "-id")


def export_get_for_org(*, organization, pk) -> Export:
    """Another organization's id is a 404, never a 403: existence is not revealed."""
    try:
        return exports_for_org(organization=organization).get(pk=pk)
    except (Export.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such export") from exc


def exports_active_count(*, organization) -> int:
    return Export.objects.filter(organization=organization, status__in=Export.ACTIVE).count()


def specialization_slugs() -> set[str]:
    return {slug for _, options in specialization_choices() for slug, _ in options}


def download_path(export: Export) -> str:
    return f"/api/v1/exports/{export.pk}/download"


def export_to_api(export: Export) -> dict[str, Any]:
    completed = export.status == Export.Status.COMPLETED
    return {
        "id": str(export.pk),
        "status": export.status,
        "format": export.format,
        "schema_version": export.schema_version or SCHEMA_VERSIONS[export.format],
        "filters": export.filters,
        "progress": {"rows_done": export.rows_done, "rows_total": export.rows_total},
        "rows": export.rows,
        "size_bytes": export.size_bytes,
        "sha256": export.sha256 or None,
        "error": export.error or None,
        "created_at": iso(export.created_at),
        "started_at": iso(export.started_at),
        "finished_at": iso(export.finished_at),
        "download_url": download_path(export) if completed else None,
    }


def _request_q(filters: ExportFiltersIn, organization_id, prefix: str = "") -> Q:
    """The filters over review requests, their fields named through `prefix` (a relation path
    ending in "__", from reviews) or directly."""
    p = prefix
    q = Q(**{f"{p}organization_id": organization_id, f"{p}status__in": list(filters.status)})
    q &= Q(**{f"{p}result__isnull": False})
    if filters.completed_after is not None:
        q &= Q(**{f"{p}completed_at__gte": filters.completed_after})
    if filters.completed_before is not None:
        q &= Q(**{f"{p}completed_at__lt": filters.completed_before})
    if filters.specialization:
        slug = filters.specialization
        q &= Q(**{f"{p}specialization__slug": slug}) | Q(
            **{f"{p}specialization__slug__startswith": slug + "."}
        )
    if filters.policy:
        # The oversight policy that routed the request (any version), or, as before oversight
        # policies existed, a `policy` key in the request's metadata.
        q &= Q(**{f"{p}policy_version__policy__name": filters.policy}) | Q(
            **{f"{p}metadata__policy": filters.policy}
        )
    if filters.agreement_min is not None:
        # A JSON null (one reviewer) is left out explicitly: SQLite compares its JSON_TYPE,
        # the text 'null', which is greater than any number.
        q &= Q(**{f"{p}result__agreement__gte": filters.agreement_min}) & ~Q(
            **{f"{p}result__agreement": None}
        )
    return q


def export_source(*, export: Export) -> QuerySet:
    """The `values()` rows the export's format reads, in a stable order: reviews (oldest
    submission first) for `raw`, requests (oldest first) for the others."""
    filters = filters_parse(export.filters)
    if export.format in READS_REVIEWS:
        return (
            Review.objects.filter(
                _request_q(filters, export.organization_id, "assignment__review_request__")
            )
            .order_by("submitted_at", "id")
            .values(*REVIEW_FIELDS)
        )
    return (
        ReviewRequest.objects.filter(_request_q(filters, export.organization_id))
        .order_by("created_at", "id")
        .values(*REQUEST_FIELDS)
    )
