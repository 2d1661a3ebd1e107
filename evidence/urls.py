from __future__ import annotations

from django.urls import path

from evidence import views

urlpatterns = [
    path(
        "company/requests/<uuid:pk>/evidence/",
        views.request_evidence,
        name="company_request_evidence",
    ),
    path(
        "company/requests/<uuid:pk>/evidence.<str:fmt>",
        views.request_evidence_download,
        name="company_request_evidence_download",
    ),
    path("company/evidence/", views.period_evidence, name="company_evidence"),
]
