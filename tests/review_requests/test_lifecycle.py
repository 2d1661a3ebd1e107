"""The transition tables: legal moves leave history, illegal ones change nothing."""

from __future__ import annotations

import pytest

from marketplace.transitions import InvalidTransition
from review_requests.models import RequestStatusChange, ReviewRequest, WebhookEvent
from review_requests.services import request_transition
from tests.factories import ReviewRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_request(organization):
    return ReviewRequestFactory(organization=organization, callback_url="https://example.com/hook")


def test_queued_to_in_review_leaves_history_and_an_event(review_request):
    request_transition(review_request=review_request, to="in_review", reason="accepted")
    review_request.refresh_from_db()
    assert review_request.status == "in_review"
    assert review_request.first_accepted_at is not None
    change = RequestStatusChange.objects.get()
    assert (change.from_status, change.to_status, change.reason) == (
        "queued",
        "in_review",
        "accepted",
    )
    assert WebhookEvent.objects.get().type == "review_request.in_review"


def test_illegal_transition_is_refused_and_changes_nothing(review_request):
    with pytest.raises(InvalidTransition):
        request_transition(review_request=review_request, to="completed")
    review_request.refresh_from_db()
    assert review_request.status == "queued"
    assert not RequestStatusChange.objects.exists()
    assert not WebhookEvent.objects.exists()


def test_terminal_states_have_no_way_out():
    assert ReviewRequest.TRANSITIONS["cancelled"] == set()
    assert ReviewRequest.TRANSITIONS["expired"] == set()
