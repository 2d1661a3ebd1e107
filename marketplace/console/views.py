"""Operator console pages."""

from __future__ import annotations

from django.shortcuts import render

from marketplace.permissions import operator_required


@operator_required
def console_home(request):
    return render(request, "console/home.html", {})
