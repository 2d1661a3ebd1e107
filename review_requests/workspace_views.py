"""Pages of the live workspace and the expert's own pages (dashboard, my assignments)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.selectors import earning_splits_by_assignment, expert_earnings_by_week
from experts.models import ExpertProfile
from experts.selectors import expert_profile_completeness, expert_standings
from marketplace.permissions import expert_required
from marketplace.rendering import json_pretty, markdown_to_safe_html
from review_requests.models import Assignment
from review_requests.workspace_selectors import (
    ROLE_EXPERT,
    assignment_get_for_workspace,
    co_reviews_for,
    comparison_view,
    expert_assignments,
    expert_dashboard_counts,
    text_of,
)

ASSIGNMENT_FILTERS = [
    ("", "All"),
    ("active", "Active"),
    ("submitted", "Submitted"),
    ("disputed", "Disputed"),
    ("resolved", "Resolved"),
    ("released", "Released"),
]


def rendered_output(content: dict[str, Any]) -> dict[str, Any]:
    """The output as the page shows it before (and without) JavaScript, by content type."""
    kind = content.get("type", "text")
    view: dict[str, Any] = {"type": kind, "text": text_of(content)}
    if kind == "markdown":
        view["html"] = markdown_to_safe_html(view["text"])
    elif kind == "code":
        view["language"] = str(content.get("language") or "")
        view["lines"] = view["text"].split("\n")
    elif kind == "json":
        view["text"] = json_pretty(content.get("body"))
    elif kind == "chat":
        view["turns"] = [
            {"role": str(t.get("role", "")), "content": str(t.get("content", ""))}
            for t in content.get("body") or []
            if isinstance(t, dict)
        ]
    return view


@require_GET
@login_required
def workspace(request: HttpRequest, pk) -> HttpResponse:
    """The expert edits; company members and operators watch the same page read-only, with chat."""
    assignment, role = assignment_get_for_workspace(user=request.user, pk=pk)
    review_request = assignment.review_request
    comparison = comparison_view(review_request=review_request, assignment=assignment, role=role)
    if comparison:
        return _comparison_workspace(request, assignment, role, comparison["comparison"])
    return render(
        request,
        "review_requests/workspace.html",
        {
            "assignment": assignment,
            "review_request": review_request,
            "role": role,
            "can_edit": role == ROLE_EXPERT and assignment.status in Assignment.ACTIVE,
            "output": rendered_output(review_request.content or {}),
            "co_reviews": co_reviews_for(user=request.user, assignment=assignment),
            "workspace_config": {
                "assignment_id": str(assignment.pk),
                "socket_url": f"/ws/assignments/{assignment.pk}/",
                "role": role,
                "user_id": request.user.pk,
            },
        },
    )


def _comparison_workspace(
    request: HttpRequest, assignment: Assignment, role: str, comparison: dict[str, Any]
) -> HttpResponse:
    """A comparison's workspace: the candidates side by side in this assignment's order, a
    preference per criterion (review_requests.comparison)."""
    return render(
        request,
        "review_requests/workspace_comparison.html",
        {
            "assignment": assignment,
            "review_request": assignment.review_request,
            "role": role,
            "can_edit": role == ROLE_EXPERT and assignment.status in Assignment.ACTIVE,
            "comparison": comparison,
            "workspace_config": {
                "assignment_id": str(assignment.pk),
                "socket_url": f"/ws/assignments/{assignment.pk}/",
                "role": role,
                "user_id": request.user.pk,
            },
        },
    )


@require_GET
@expert_required
def expert_dashboard(request: HttpRequest) -> HttpResponse:
    profile = ExpertProfile.objects.filter(user=request.user).first()
    context: dict[str, Any] = {"profile": profile}
    if profile is not None:
        context["counts"] = expert_dashboard_counts(expert_profile=profile)
        context["active"] = list(expert_assignments(expert_profile=profile, status="active")[:10])
        context["earned_this_week_cents"] = expert_earnings_by_week(user=request.user, weeks=1)[
            -1
        ].earned_cents
        context["completeness"] = expert_profile_completeness(expert=profile)
        context["standings"] = expert_standings(expert=profile)
    return render(request, "review_requests/expert_dashboard.html", context)


@require_GET
@expert_required
def expert_assignment_list(request: HttpRequest) -> HttpResponse:
    profile = ExpertProfile.objects.filter(user=request.user).first()
    status = request.GET.get("status", "")
    if status not in dict(ASSIGNMENT_FILTERS):
        status = ""
    q = request.GET.get("q", "").strip()[:100]
    assignments = (
        expert_assignments(expert_profile=profile, status=status, q=q)
        if profile is not None
        else Assignment.objects.none()
    )
    page_obj = Paginator(assignments, 20).get_page(request.GET.get("page"))
    # "Earned" is the expert's pay net of refunds, as the ledger holds it (not the company's
    # price, which includes the platform fee).
    splits = earning_splits_by_assignment(assignment_ids=[a.pk for a in page_obj.object_list])
    for assignment in page_obj.object_list:
        assignment.earning_split = splits.get(assignment.pk)
    return render(
        request,
        "review_requests/assignments.html",
        {
            "page_obj": page_obj,
            "status": status,
            "q": q,
            "filters": ASSIGNMENT_FILTERS,
        },
    )
