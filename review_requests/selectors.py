"""Reads of review requests, with the one permission-checking fetcher per object."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from review_requests.models import Assignment, ReviewRequest


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
