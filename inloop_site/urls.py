"""Root URLs: pages of every app, the API and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from inloop_site import dashboards
from inloop_site.api import api
from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/signup/", views.signup, name="account_signup"),  # allauth's, role preselected
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("notifications/", views.notifications, name="notifications"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("company/team/", views.team, name="team"),
    path("company/team/<int:pk>/role/", views.team_member_role, name="team_member_role"),
    path("company/team/<int:pk>/remove/", views.team_member_remove, name="team_member_remove"),
    path("company/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("company/api-keys/", views.api_keys, name="api_keys"),
    path("company/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path(
        "company/webhook-secret/rotate/", views.webhook_secret_rotate, name="webhook_secret_rotate"
    ),
    path("company/", dashboards.company_dashboard, name="company_dashboard"),
    path("", include("experts.urls")),
    path("", include("review_requests.urls")),
    path("", include("billing.urls")),
    path("", include("evidence.urls")),
    path("", include("datasets.urls")),
    path("", include("inloop_site.console.urls")),
    path("", include("inloop_site.company_oversight.urls")),
]

# bench/api.py measures the API against a bare JSON view on the same server (the ceiling).
# Only mounted when the benchmark starts the server with INLOOP_BENCH=1.
from marketplace.env import env_bool  # noqa: E402

if env_bool("INLOOP_BENCH", False):
    from django.http import JsonResponse

    def _bench_bare_view(request):
        return JsonResponse({"ok": True})

    urlpatterns += [path("bench/bare_view", _bench_bare_view)]
