"""A refused operator action answers with a redirect to the page it came from and says why there,
once (post/redirect/get): reloading that page is a GET of a real page, never a blank 405 of the
POST-only action URL."""

from __future__ import annotations

import pytest

from review_requests.models import ReviewRequest
from tests.conftest import give_operator_mfa, login_client
from tests.factories import CredentialFactory, ReviewRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def op_client(operator):
    give_operator_mfa(operator)
    return login_client(operator)


def _pending_credential():
    return CredentialFactory(status="pending")


CASES = [
    pytest.param(
        lambda: _pending_credential(),
        "/console/credentials/{pk}/reject/",
        {"reason": "  "},
        "/console/credentials/{pk}/",
        "Give the reason the expert will read.",
        id="credential-reject-without-reason",
    ),
    pytest.param(
        lambda: UserFactory(),
        "/console/users/{pk}/suspend/",
        {"reason": ""},
        "/console/users/{pk}/",
        "Give a reason for the suspension.",
        id="suspend-without-reason",
    ),
    pytest.param(
        lambda: ReviewRequestFactory(status=ReviewRequest.Status.CANCELLED),
        "/console/requests/{pk}/reoffer/",
        {},
        "/console/requests/{pk}/",
        "Only a queued request can be offered again.",
        id="reoffer-a-cancelled-request",
    ),
]


@pytest.mark.parametrize(("make", "action", "data", "page", "error"), CASES)
def test_refused_action_redirects_and_a_reload_is_a_plain_get(
    op_client, make, action, data, page, error
):
    pk = make().pk
    refused = op_client.post(action.format(pk=pk), data)
    assert refused.status_code == 302
    assert refused["Location"] == page.format(pk=pk)

    shown = op_client.get(refused["Location"])
    assert shown.status_code == 200
    assert shown.content.decode().count(error) == 1

    reloaded = op_client.get(refused["Location"])
    assert reloaded.status_code == 200
    assert error not in reloaded.content.decode()


def test_the_action_url_itself_still_refuses_a_get(op_client):
    credential = _pending_credential()
    assert op_client.get(f"/console/credentials/{credential.pk}/reject/").status_code == 405
