"""Company pages of the evidence: one request's record (download JSON or PDF, chain position and
hash) and the export of a period."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from evidence import exports, selectors
from evidence.forms import PeriodForm
from marketplace.permissions import company_required
from review_requests.selectors import review_request_get_for_org

FORMATS = {"json", "pdf"}


@company_required
@require_GET
def request_evidence(request, pk):
    review_request = review_request_get_for_org(organization=request.organization, pk=pk)
    try:
        entries = selectors.entries_for_request(
            organization=request.organization, review_request_id=review_request.pk
        )
    except Http404:
        entries = []
    return render(
        request,
        "evidence/request_evidence.html",
        {"rr": review_request, "entries": entries, "anchor": selectors.latest_anchor()},
    )


@company_required
@require_GET
def request_evidence_download(request, pk, fmt):
    if fmt not in FORMATS:
        raise Http404("No such format")
    review_request = review_request_get_for_org(organization=request.organization, pk=pk)
    export = exports.request_export(
        organization=request.organization, review_request_id=review_request.pk
    )
    return exports.export_response(export, fmt=fmt, filename=f"evidence-{review_request.pk}")


@company_required
@require_GET
def period_evidence(request):
    today = timezone.localdate()
    form = PeriodForm(
        request.GET or None, initial={"first_day": today.replace(day=1), "last_day": today}
    )
    fmt = request.GET.get("format", "")
    if form.is_valid() and fmt in FORMATS:
        first_day, last_day = form.cleaned_data["first_day"], form.cleaned_data["last_day"]
        export = exports.period_export(
            organization=request.organization, first_day=first_day, last_day=last_day
        )
        return exports.export_response(
            export, fmt=fmt, filename=f"evidence-{first_day.isoformat()}-{last_day.isoformat()}"
        )
    return render(request, "evidence/period.html", {"form": form})
