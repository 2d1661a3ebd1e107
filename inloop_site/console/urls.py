"""Operator console (composition: may import every app)."""

from __future__ import annotations

from django.urls import path

from inloop_site.console import views

urlpatterns = [
    path("console/", views.console_home, name="console_home"),
    path("console/users/", views.users, name="console_users"),
    path("console/users/<int:pk>/", views.user_detail, name="console_user"),
    path("console/users/<int:pk>/suspend/", views.user_suspend, name="console_user_suspend"),
    path("console/users/<int:pk>/reinstate/", views.user_reinstate, name="console_user_reinstate"),
    path("console/organizations/", views.organizations, name="console_organizations"),
    path(
        "console/organizations/<uuid:pk>/",
        views.organization_detail,
        name="console_organization",
    ),
    path("console/settings/", views.platform_settings, name="console_settings"),
    path("console/audit/", views.audit_log, name="console_audit"),
    path("console/audit/export.csv", views.audit_export, name="console_audit_export"),
    path("console/requests/", views.stuck_requests, name="console_requests"),
    path("console/requests/<uuid:pk>/", views.request_detail, name="console_request"),
    path(
        "console/requests/<uuid:pk>/reoffer/", views.request_reoffer, name="console_request_reoffer"
    ),
    path("console/requests/<uuid:pk>/cancel/", views.request_cancel, name="console_request_cancel"),
    path(
        "console/assignments/<uuid:pk>/reassign/",
        views.assignment_reassign,
        name="console_assignment_reassign",
    ),
    path("console/payouts/", views.payouts, name="console_payouts"),
    path("console/payouts/<int:pk>/retry/", views.payout_retry, name="console_payout_retry"),
    path("console/payouts/<int:pk>/fail/", views.payout_mark_failed, name="console_payout_fail"),
    path("console/payouts/<int:pk>/reverse/", views.payout_reverse, name="console_payout_reverse"),
    path("console/money-actions/", views.money_actions, name="console_money_actions"),
    path(
        "console/money-actions/<int:pk>/approve/",
        views.money_action_approve,
        name="console_money_action_approve",
    ),
    path(
        "console/money-actions/<int:pk>/reject/",
        views.money_action_reject,
        name="console_money_action_reject",
    ),
    path("console/disputes/", views.disputes, name="console_disputes"),
    path("console/disputes/<uuid:pk>/", views.dispute_case, name="console_dispute"),
    path(
        "console/disputes/<uuid:pk>/approve/", views.dispute_approve, name="console_dispute_approve"
    ),
    path("console/disputes/<uuid:pk>/reject/", views.dispute_reject, name="console_dispute_reject"),
]

# Oversight evidence: the daily anchors (evidence app).
from inloop_site.console import evidence_views  # noqa: E402

urlpatterns += [
    path("console/evidence/", evidence_views.evidence_anchors, name="console_evidence"),
    path(
        "console/evidence/anchors.json",
        evidence_views.evidence_anchors_export,
        name="console_evidence_export",
    ),
]
