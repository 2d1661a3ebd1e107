"""The company's Datasets page: create an export, follow its progress, download it."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from datasets import selectors, services
from datasets.forms import ExportForm
from marketplace.permissions import company_required

PAGE_SIZE = 20


@company_required
@require_http_methods(["GET", "POST"])
def datasets_page(request):
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        filters = form.filters()
        if filters is not None:
            try:
                export = services.export_create(
                    organization=request.organization,
                    format=form.cleaned_data["format"],
                    filters=filters,
                    user=request.user,
                )
            except services.ExportRefused as exc:
                field = (exc.field or "").removeprefix("filters.")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                messages.success(
                    request, f"Export queued: {export.get_format_display()}. It appears below."
                )
                return redirect("datasets")
    page = Paginator(selectors.exports_for_org(organization=request.organization), PAGE_SIZE)
    page_obj = page.get_page(request.GET.get("page"))
    return render(
        request,
        "datasets/datasets.html",
        {
            "form": form,
            "page_obj": page_obj,
            "exports": [selectors.export_to_api(e) | {"obj": e} for e in page_obj.object_list],
            "querystring": "",
        },
    )
