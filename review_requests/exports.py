"""Results export: JSONL (one contract object per line) and CSV (flattened), streamed in chunks
so a large history never sits in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from review_requests.models import ReviewRequest
from review_requests.serializers import review_request_to_api

CHUNK = 500

CSV_COLUMNS = [
    "id",
    "status",
    "title",
    "specialization",
    "created_at",
    "completed_at",
    "deadline",
    "reviewers",
    "max_hours",
    "assignments",
    "billed_seconds",
    "cost_cents",
    "currency",
    "verdict",
    "summary",
    "scores",
    "agreement",
    "annotations",
    "corrected_output",
    "metadata",
    # Oversight (issue #17), appended so that readers by position keep working.
    "policy",
    "policy_version",
    "policy_rule",
    "oversight_outcome",
    "audit",
    "confidence",
]

# A cell starting with one of these is a formula to a spreadsheet: untrusted text (titles, AI
# output, metadata) must not run as one on a colleague's machine.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _oversight_cells(data: dict[str, Any]) -> dict[str, Any]:
    """The oversight columns: empty when no policy applied (`audit` is then false)."""
    oversight = data.get("oversight") or {}
    return {
        "policy": oversight.get("policy"),
        "policy_version": oversight.get("policy_version"),
        "policy_rule": oversight.get("rule"),
        "oversight_outcome": oversight.get("outcome"),
        "audit": "true" if data.get("audit") else "false",
        "confidence": data.get("confidence"),
    }


def csv_row(data: dict[str, Any]) -> list[Any]:
    result = data.get("result") or {}
    assignments = data.get("assignments") or []
    flat = {
        **{key: data.get(key) for key in CSV_COLUMNS},
        "assignments": len(assignments),
        "billed_seconds": sum(a.get("billed_seconds") or 0 for a in assignments),
        "verdict": result.get("verdict"),
        "summary": result.get("summary"),
        "scores": result.get("scores") or None,
        "agreement": result.get("agreement"),
        "annotations": len(result.get("annotations") or []) if result else None,
        "corrected_output": result.get("corrected_output"),
        "metadata": data.get("metadata") or None,
        **_oversight_cells(data),
    }
    return [_cell(flat[key]) for key in CSV_COLUMNS]


def _objects(requests: QuerySet[ReviewRequest]) -> Iterator[dict[str, Any]]:
    for review_request in requests.iterator(chunk_size=CHUNK):
        yield review_request_to_api(review_request)


class _Echo:
    def write(self, value: str) -> str:
        return value


def jsonl_lines(requests: QuerySet[ReviewRequest]) -> Iterable[str]:
    for data in _objects(requests):
        yield json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_lines(requests: QuerySet[ReviewRequest]) -> Iterable[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for data in _objects(requests):
        yield writer.writerow(csv_row(data))


def streaming_response(*, requests: QuerySet[ReviewRequest], fmt: str) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "jsonl":
        response = StreamingHttpResponse(
            jsonl_lines(requests), content_type="application/x-ndjson; charset=utf-8"
        )
    elif fmt == "csv":
        response = StreamingHttpResponse(
            csv_lines(requests), content_type="text/csv; charset=utf-8"
        )
    else:
        raise Http404("Unknown export format")
    response["Content-Disposition"] = f'attachment; filename="inloop-requests-{stamp}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
