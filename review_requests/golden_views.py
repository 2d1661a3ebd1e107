"""Pages of proven experts (issue #20) that put golden items to work: the expert's qualification
tests (what each asks, its time cap and pay, before starting) and a company marking a completed
review as a golden item. Views parse, call one service, respond."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from marketplace.permissions import company_required, expert_required
from review_requests import golden
from review_requests.agreement_selectors import expert_agreement_recent
from review_requests.services import Refused


def _profile(request: HttpRequest):
    from experts.selectors import expert_profile_for_user

    profile = expert_profile_for_user(user=request.user)
    if profile is None:
        raise Http404("Create your expert profile first.")
    return profile


@require_GET
@expert_required
def expert_qualifications(request: HttpRequest) -> HttpResponse:
    from experts.selectors import expert_profile_for_user, expert_standings

    profile = expert_profile_for_user(user=request.user)
    tests = golden.qualifications_for_expert(expert=profile) if profile else []
    return render(
        request,
        "review_requests/expert_qualifications.html",
        {
            "profile": profile,
            "tests": tests,
            "standings": expert_standings(expert=profile) if profile else [],
            "agreement": expert_agreement_recent(expert_id=profile.pk) if profile else None,
            # Where a paused expert can requalify by taking a test (else an operator lifts it).
            "testable": {q.test.specialization_id for q in tests},
        },
    )


@require_POST
@expert_required
def expert_qualification_start(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        attempt = golden.qualification_start(expert=_profile(request), test_id=pk)
    except Refused as exc:
        if exc.status == 404:
            raise Http404("No such test") from exc
        messages.error(request, exc.message)
        return redirect("expert_qualifications")
    messages.success(
        request,
        f"Your test has {attempt.items_total} item{'s' if attempt.items_total != 1 else ''}: "
        "open each from your assignments (or accept it among your offers). The clock runs "
        "only while you work in the workspace.",
    )
    return redirect("expert_qualifications")


@company_required(admin=True)
@require_POST
def company_request_mark_golden(request: HttpRequest, pk) -> HttpResponse:
    from review_requests.selectors import review_request_get_for_org

    review_request = review_request_get_for_org(organization=request.organization, pk=pk)
    try:
        tolerance = float(request.POST.get("tolerance") or 0)
    except ValueError:
        tolerance = -1.0
    try:
        golden.golden_item_from_request(
            review_request=review_request, actor=request.user, tolerance=tolerance
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, "Marked as a golden item: it will measure experts on your future requests."
        )
    return redirect("company_request_detail", pk=review_request.pk)
