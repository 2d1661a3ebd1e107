"""The exports as responses, shared by the company pages and the API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from evidence import selectors
from evidence.pdf import evidence_pdf


def request_export(*, organization, review_request_id) -> dict:
    """The JSON export of one request's entries (404 when it has no record yet)."""
    entries = selectors.entries_for_request(
        organization=organization, review_request_id=review_request_id
    )
    return selectors.evidence_export(
        organization=organization,
        entries=entries,
        scope={"review_request_id": str(review_request_id)},
    )


def period_export(*, organization, first_day: date, last_day: date) -> dict:
    """Every entry of the organization's chain made from `first_day` to `last_day` (UTC days,
    both included)."""
    since = datetime.combine(first_day, time.min, tzinfo=timezone.get_fixed_timezone(0))
    until = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=since.tzinfo)
    entries = list(
        selectors.entries_for_period(organization=organization, since=since, until=until)
    )
    return selectors.evidence_export(
        organization=organization,
        entries=entries,
        scope={"from": first_day.isoformat(), "to": last_day.isoformat()},
    )


def export_response(export: dict, *, fmt: str, filename: str) -> HttpResponse:
    if fmt == "pdf":
        response = HttpResponse(evidence_pdf(export), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
        return response
    response = JsonResponse(export, json_dumps_params={"ensure_ascii": False, "indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
    return response
