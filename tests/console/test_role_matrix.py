"""Every console page and action: anonymous -> login, expert or company member -> 403 (never
data), operator without MFA -> MFA setup, operator with MFA -> the page."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from tests.conftest import give_operator_mfa, login_client

pytestmark = pytest.mark.django_db

SOME_UUID = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")

GET_PAGES = [
    "/console/",
    "/console/users/",
    "/console/organizations/",
    "/console/settings/",
    "/console/audit/",
    "/console/audit/export.csv",
    "/console/requests/",
    "/console/payouts/",
    "/console/disputes/",
    "/console/money-actions/",
]

ACTIONS = [
    ("get", "/console/users/1/"),
    ("post", "/console/users/1/suspend/"),
    ("post", "/console/users/1/reinstate/"),
    ("get", f"/console/organizations/{SOME_UUID}/"),
    ("post", f"/console/organizations/{SOME_UUID}/"),
    ("post", "/console/settings/"),
    ("get", f"/console/requests/{SOME_UUID}/"),
    ("post", f"/console/requests/{SOME_UUID}/reoffer/"),
    ("post", f"/console/requests/{SOME_UUID}/cancel/"),
    ("post", f"/console/assignments/{SOME_UUID}/reassign/"),
    ("get", "/console/payouts/1/retry/"),
    ("post", "/console/payouts/1/retry/"),
    ("get", "/console/payouts/1/fail/"),
    ("post", "/console/payouts/1/fail/"),
    ("get", "/console/payouts/1/reverse/"),
    ("post", "/console/payouts/1/reverse/"),
    ("post", "/console/money-actions/1/approve/"),
    ("post", "/console/money-actions/1/reject/"),
    ("get", f"/console/disputes/{SOME_UUID}/"),
    ("post", f"/console/disputes/{SOME_UUID}/"),
    ("post", f"/console/disputes/{SOME_UUID}/approve/"),
    ("post", f"/console/disputes/{SOME_UUID}/reject/"),
]
ALL = [("get", url) for url in GET_PAGES] + ACTIONS


@pytest.mark.parametrize(("method", "url"), ALL)
def test_anonymous_is_sent_to_login(method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", ["expert", "company_member", "plain_member"])
@pytest.mark.parametrize(("method", "url"), ALL)
def test_experts_and_company_members_are_forbidden(request, role, method, url, organization):
    user = request.getfixturevalue(role)
    response = getattr(login_client(user), method)(url, {"reason": "x", "amount": "5"})
    assert response.status_code == 403
    assert b"Acme AI" not in response.content
    assert b"olivia" not in response.content


@pytest.mark.parametrize(("method", "url"), ALL)
def test_operator_without_mfa_is_sent_to_set_it_up(operator, method, url):
    response = getattr(login_client(operator), method)(url)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/"


@pytest.mark.parametrize("url", GET_PAGES)
def test_operator_with_mfa_sees_every_page(operator, url):
    give_operator_mfa(operator)
    response = login_client(operator).get(url)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/console/users/1/suspend/",
        "/console/users/1/reinstate/",
        f"/console/requests/{SOME_UUID}/reoffer/",
        f"/console/disputes/{SOME_UUID}/approve/",
        "/console/money-actions/1/approve/",
        "/console/money-actions/1/reject/",
    ],
)
def test_actions_refuse_get(operator, url):
    give_operator_mfa(operator)
    assert login_client(operator).get(url).status_code == 405


@pytest.mark.parametrize(
    "url",
    [
        "/console/users/999999/",
        f"/console/organizations/{SOME_UUID}/",
        f"/console/requests/{SOME_UUID}/",
        f"/console/disputes/{SOME_UUID}/",
        "/console/payouts/999999/fail/",
        "/console/payouts/999999/reverse/",
    ],
)
def test_unknown_objects_are_404(operator, url):
    give_operator_mfa(operator)
    assert login_client(operator).get(url).status_code == 404
