"""What each hold paid for, in words, for billing's statements and receipts (billing.words): a
hold's ref is its assignment's `hold_ref`."""

from __future__ import annotations

from django.urls import reverse

from billing.words import Subject
from review_requests.models import Assignment


def hold_subjects(hold_refs: list[str]) -> dict[str, Subject]:
    """One query for any number of refs; refs of other kinds are simply not found."""
    assignments = (
        Assignment.objects.filter(hold_ref__in=hold_refs)
        .select_related("review_request__specialization", "expert")
        .only(
            "hold_ref",
            "review_request__id",
            "review_request__title",
            "review_request__specialization__name",
            "expert__display_name",
            "expert__user_id",
        )
    )
    return {
        assignment.hold_ref: Subject(
            text=f"Review of “{assignment.review_request.title}” by "
            f"{assignment.expert.display_name or 'an expert'}",
            url=reverse("company_request_detail", args=[assignment.review_request.pk]),
            group=assignment.review_request.specialization.name,
        )
        for assignment in assignments
    }
