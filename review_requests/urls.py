from __future__ import annotations

from django.urls import path

from review_requests import dispute_views
from review_requests import views as company_views

urlpatterns: list = []

urlpatterns += [
    path("company/disputes/", dispute_views.company_disputes, name="company_disputes"),
    path(
        "company/disputes/new/<uuid:assignment_pk>/",
        dispute_views.company_dispute_new,
        name="company_dispute_new",
    ),
    path("company/disputes/<uuid:pk>/", dispute_views.company_dispute, name="company_dispute"),
    path("expert/disputes/<uuid:pk>/", dispute_views.expert_dispute, name="expert_dispute"),
]

urlpatterns += [
    path("company/requests/", company_views.request_list, name="company_requests"),
    path("company/requests/new/", company_views.request_new, name="company_request_new"),
    path(
        "company/requests/estimate.json",
        company_views.request_estimate_json,
        name="company_request_estimate",
    ),
    path(
        "company/requests/preview/", company_views.request_preview, name="company_request_preview"
    ),
    path(
        "company/requests/export.<str:fmt>",
        company_views.request_export,
        name="company_requests_export",
    ),
    path(
        "company/requests/<uuid:pk>/",
        company_views.request_detail,
        name="company_request_detail",
    ),
    path(
        "company/requests/<uuid:pk>/state.json",
        company_views.request_state,
        name="company_request_state",
    ),
    path(
        "company/requests/<uuid:pk>/cancel/",
        company_views.request_cancel,
        name="company_request_cancel",
    ),
    path("company/webhooks/", company_views.webhook_log, name="company_webhooks"),
    path(
        "company/webhooks/<str:event_id>/",
        company_views.webhook_event_detail,
        name="company_webhook_event",
    ),
    path(
        "company/webhooks/<str:event_id>/resend/",
        company_views.webhook_event_resend,
        name="company_webhook_event_resend",
    ),
]

# The expert's offers inbox ("API+offers").
from review_requests import expert_views  # noqa: E402

urlpatterns += [
    path("expert/offers/", expert_views.offers_inbox, name="expert_offers"),
    path("expert/offers/list/", expert_views.offers_fragment, name="expert_offers_fragment"),
    path("expert/offers/<uuid:pk>/accept/", expert_views.offer_accept, name="expert_offer_accept"),
    path(
        "expert/offers/<uuid:pk>/decline/",
        expert_views.offer_decline,
        name="expert_offer_decline",
    ),
]

# The live workspace and the expert's own pages ("workspace").
from review_requests import workspace_views  # noqa: E402

urlpatterns += [
    path("workspace/<uuid:pk>/", workspace_views.workspace, name="workspace"),
    path("expert/", workspace_views.expert_dashboard, name="expert_dashboard"),
    path("expert/assignments/", workspace_views.expert_assignment_list, name="expert_assignments"),
]

# Proven experts (issue #20): qualification tests and golden items.
from review_requests import golden_views  # noqa: E402

urlpatterns += [
    path(
        "expert/qualifications/",
        golden_views.expert_qualifications,
        name="expert_qualifications",
    ),
    path(
        "expert/qualifications/<int:pk>/start/",
        golden_views.expert_qualification_start,
        name="expert_qualification_start",
    ),
    path(
        "company/requests/<uuid:pk>/golden/",
        golden_views.company_request_mark_golden,
        name="company_request_mark_golden",
    ),
]

# Independent reviews: the company's adjudication setting and its reviewers' agreement
# (independent-reviews.md).
from review_requests import independent_views  # noqa: E402

urlpatterns += [
    path(
        "company/review-settings/",
        independent_views.review_settings,
        name="company_review_settings",
    ),
    path("company/agreement/", independent_views.company_agreement, name="company_agreement"),
]
