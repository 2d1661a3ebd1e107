"""The Django admin covers every model of the project with search and filters, and each list
page renders (with a search) for a superuser."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from marketplace.models import User
from tests.conftest import give_operator_mfa
from tests.factories import UserFactory

PROJECT_APPS = {"marketplace", "experts", "review_requests", "billing", "oversight"}
MODELS = [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_every_model_is_registered_with_search_and_filters(model):
    model_admin = admin.site._registry.get(model)
    assert model_admin is not None, f"{model._meta.label} is not in the admin"
    assert model_admin.search_fields, f"{model._meta.label} has no search"
    assert model_admin.list_filter, f"{model._meta.label} has no filters"


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_every_list_page_renders_with_a_search(client, model):
    superuser = User.objects.create_superuser(
        email="root@inloop.test", password="x-very-long-password", account_type="operator"
    )
    give_operator_mfa(superuser)
    client.force_login(superuser)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url, {"q": "acme"})
    assert response.status_code == 200


@pytest.mark.django_db
def test_money_and_request_state_cannot_be_edited_in_the_admin(client):
    superuser = User.objects.create_superuser(
        email="root@inloop.test", password="x-very-long-password", account_type="operator"
    )
    give_operator_mfa(superuser)
    client.force_login(superuser)
    for name in ["review_requests_reviewrequest", "billing_hold", "billing_ledgerentry"]:
        assert client.get(reverse(f"admin:{name}_add")).status_code == 403


@pytest.mark.django_db
def test_the_admin_login_is_allauths_and_needs_two_factor(client):
    from tests.factories import PASSWORD

    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    response = client.get(response["Location"])
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # Django's own admin login form cannot be used to skip allauth (and its second factor).
    operator = UserFactory(
        email="ops@inloop.test", account_type=User.AccountType.OPERATOR, is_staff=True
    )
    client.post("/admin/login/", {"username": operator.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session

    client.force_login(operator)
    response = client.get("/admin/", follow=True)
    assert any("/accounts/2fa/totp/activate/" in url for url, _ in response.redirect_chain)
    assert "Turn on two-factor authentication" in response.content.decode()
    give_operator_mfa(operator)
    assert client.get("/admin/").status_code == 200
