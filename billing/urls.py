from __future__ import annotations

from django.urls import path, register_converter

from billing import views


class MonthConverter:
    regex = r"[0-9]{4}-(?:0[1-9]|1[0-2])"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(MonthConverter, "month")

urlpatterns = [
    path("company/billing/", views.company_billing, name="billing_company"),
    path("company/billing/funding/<int:pk>/", views.funding_detail, name="billing_funding"),
    path(
        "company/billing/statements/<month:month>/",
        views.company_statement,
        name="billing_company_statement",
    ),
    path(
        "company/billing/statements/<month:month>.csv",
        views.company_statement_csv,
        name="billing_company_statement_csv",
    ),
    path("company/billing/receipt/", views.request_receipt, name="billing_request_receipt"),
    path("expert/earnings/", views.expert_earnings, name="billing_expert_earnings"),
    path(
        "expert/earnings/statements/<month:month>/",
        views.expert_statement,
        name="billing_expert_statement",
    ),
    path(
        "expert/earnings/statements/<month:month>.csv",
        views.expert_statement_csv,
        name="billing_expert_statement_csv",
    ),
    path("expert/payouts/setup/", views.payouts_setup, name="billing_payouts_setup"),
    path("expert/payouts/return/", views.payouts_return, name="billing_payouts_return"),
    path("expert/payouts/refresh/", views.payouts_refresh, name="billing_payouts_refresh"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
