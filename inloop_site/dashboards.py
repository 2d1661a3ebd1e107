"""The company's home at /company/: the queue by status, spend this month, the balance, what
just finished, and what to do first when nothing has happened yet."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from marketplace.permissions import company_required


@company_required
@require_GET
def company_dashboard(request):
    from billing.selectors import company_balance
    from review_requests.company_selectors import company_overview

    organization = request.organization
    overview = company_overview(organization=organization)
    return render(
        request,
        "marketplace/company_dashboard.html",
        {
            "overview": overview,
            "balance": company_balance(organization=organization),
            "has_api_key": organization.api_keys.filter(revoked_at__isnull=True).exists(),
            "is_admin": request.membership.is_admin,
        },
    )
