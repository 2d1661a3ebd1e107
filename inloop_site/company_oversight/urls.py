"""The company's oversight pages, under /company/oversight/."""

from __future__ import annotations

from django.urls import path

from inloop_site.company_oversight import views

urlpatterns = [
    path("company/oversight/", views.oversight_policies, name="oversight_policies"),
    path("company/oversight/<str:name>/", views.oversight_policy, name="oversight_policy"),
    path(
        "company/oversight/<str:name>/default/",
        views.oversight_policy_default,
        name="oversight_policy_default",
    ),
    path(
        "company/oversight/<str:name>/simulate/",
        views.oversight_policy_simulate,
        name="oversight_policy_simulate",
    ),
]
