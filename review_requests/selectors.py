"""Reads of review requests, with the one permission-checking fetcher per object."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from review_requests.models import Assignment, ReviewRequest
from review_requests.serializers import review_requests_to_api_rows


def review_requests_for_org(*, organization) -> QuerySet[ReviewRequest]:
    return (
        ReviewRequest.objects.filter(organization=organization)
        .select_related("specialization", "policy_version__policy")
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


def review_request_api_object(*, organization, pk) -> dict[str, Any] | None:
    """The contract's object of `organization`'s request `pk` (a UUID), built from rows as the
    list's are (two queries: the request with its specialization, its assignments with their
    experts); None when the organization has no such request."""
    rows = review_requests_to_api_rows(
        ReviewRequest.objects.filter(organization=organization, pk=pk)
    )
    return rows[0] if rows else None
