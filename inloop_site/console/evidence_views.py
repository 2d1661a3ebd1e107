"""The console's evidence page: the daily anchor hashes over every organization's chain, and
their export (to write down outside Inloop)."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evidence import selectors
from marketplace.permissions import operator_required


@operator_required
@require_GET
def evidence_anchors(request):
    return render(request, "console/evidence.html", {"anchors": selectors.anchors_list()})


@operator_required
@require_GET
def evidence_anchors_export(request):
    anchors = [selectors.anchor_to_export(anchor) for anchor in selectors.anchors_list(limit=3660)]
    response = JsonResponse(
        {"schema_name": "inloop.evidence.anchors", "schema_version": 1, "anchors": anchors}
    )
    response["Content-Disposition"] = 'attachment; filename="evidence-anchors.json"'
    return response
