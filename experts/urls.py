from __future__ import annotations

from django.urls import path

from experts import golden_views, views

urlpatterns = [
    path("expert/profile/", views.profile, name="expert_profile"),
    path(
        "expert/profile/specializations/<int:pk>/remove/",
        views.profile_specialization_remove,
        name="expert_specialization_remove",
    ),
    path(
        "expert/profile/time-off/<int:pk>/remove/",
        views.profile_time_off_remove,
        name="expert_time_off_remove",
    ),
    path(
        "credentials/<int:pk>/document/",
        views.credential_document,
        name="credential_document",
    ),
    path("console/credentials/", views.console_credentials, name="console_credentials"),
    path("console/credentials/<int:pk>/", views.console_credential, name="console_credential"),
    path(
        "console/credentials/<int:pk>/verify/",
        views.console_credential_verify,
        name="console_credential_verify",
    ),
    path(
        "console/credentials/<int:pk>/reject/",
        views.console_credential_reject,
        name="console_credential_reject",
    ),
    path("company/experts/", views.directory, name="company_experts"),
    path("company/experts/<uuid:pk>/", views.public_profile, name="company_expert"),
    path(
        "company/experts/<uuid:pk>/block/",
        views.public_profile_block,
        name="company_expert_block",
    ),
    path("console/golden/", golden_views.console_golden, name="console_golden"),
    path(
        "console/golden/items/",
        golden_views.console_golden_item_create,
        name="console_golden_item_create",
    ),
    path(
        "console/golden/tests/",
        golden_views.console_qualification_test_set,
        name="console_qualification_test_set",
    ),
    path(
        "console/golden/standings/<int:pk>/lift/",
        golden_views.console_standing_lift,
        name="console_standing_lift",
    ),
    path("company/golden/", golden_views.company_golden, name="company_golden"),
    path("company/golden/items/", golden_views.company_golden_create, name="company_golden_create"),
]
