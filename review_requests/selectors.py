"""Reads of review requests, with the one permission-checking fetcher per object."""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from experts.models import ExpertProfile, Specialization
from marketplace import rawsql
from review_requests.models import Assignment, ReviewRequest
from review_requests.serializers import ASSIGNMENT_ROW_FIELDS, REQUEST_ROW_FIELDS


def review_requests_for_org(*, organization) -> QuerySet[ReviewRequest]:
    return (
        ReviewRequest.objects.filter(organization=organization)
        .select_related("specialization")
        .prefetch_related(
            Prefetch("assignments", queryset=Assignment.objects.select_related("expert"))
        )
    )


def review_request_get_for_org(*, organization, pk) -> ReviewRequest:
    """Another organization's id is a 404, never a 403: existence is not revealed."""
    try:
        return review_requests_for_org(organization=organization).get(pk=pk)
    except (ReviewRequest.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such review request") from exc


# GET /review-requests/<id>, which pipelines poll: one hand-built statement (marketplace/rawsql.py
# says why) instead of two compiled queries, the request with its specialization and, through
# LEFT JOINs, one row per assignment with its expert. The fields are those the contract's object
# reads (serializers.py's row fields); tests/review_requests/test_api_read.py compares the
# result with the list's and with the ORM's.


def _own_columns(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The model's own columns among the serializer's `fields`: `a__b` is read through `a_id`."""
    return tuple(dict.fromkeys(f"{f.split('__')[0]}_id" if "__" in f else f for f in fields))


_API_OBJECT_JOIN = (
    (ReviewRequest, _own_columns(REQUEST_ROW_FIELDS)),
    (Specialization, ("id", "slug")),
    (Assignment, _own_columns(ASSIGNMENT_ROW_FIELDS)),
    (ExpertProfile, ("id", "display_name")),
)


@functools.cache
def _api_object_sql(vendor: str) -> str:
    qn = connection.ops.quote_name
    columns = rawsql.select_list(_API_OBJECT_JOIN, "rsap")
    return (
        f"SELECT {columns}"  # noqa: S608 - identifiers from the models, values as parameters
        f" FROM {qn(ReviewRequest._meta.db_table)} r"
        f" JOIN {qn(Specialization._meta.db_table)} s ON s.id = r.specialization_id"
        f" LEFT JOIN {qn(Assignment._meta.db_table)} a ON a.review_request_id = r.id"
        f" LEFT JOIN {qn(ExpertProfile._meta.db_table)} p ON p.id = a.expert_id"
        " WHERE r.organization_id = %s AND r.id = %s"
    )


def review_request_for_api(*, organization, pk) -> ReviewRequest | None:
    """`organization`'s request `pk` (a UUID) with what its API object shows: specialization,
    assignments and their experts (prefetched); None when the organization has no such request.
    Fields the object does not show load on first access."""
    org_field = ReviewRequest._meta.get_field("organization")
    pk_field = ReviewRequest._meta.pk
    params = [
        org_field.get_db_prep_value(organization.pk, connection),
        pk_field.get_db_prep_value(pk, connection),
    ]
    rows = rawsql.fetch_instances(_api_object_sql(connection.vendor), params, *_API_OBJECT_JOIN)
    if not rows:
        return None
    review_request, specialization = rows[0][:2]
    review_request.specialization = specialization
    assignments = []
    for _request, _specialization, assignment, expert in rows:
        if assignment.pk is not None:  # a request without assignments: one row of NULLs
            assignment.expert = expert
            assignments.append(assignment)
    review_request._prefetched_objects_cache = {"assignments": assignments}
    return review_request
