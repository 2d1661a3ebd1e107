"""Outbound webhooks against a real HTTP server on 127.0.0.1: after commit only, signed as the
contract says (checked with the very snippet shown to companies), retried with backoff, logged,
given up after MAX_ATTEMPTS, resent with the same body, never sent twice by two workers."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta

import pytest
import standardwebhooks
from django.db import connection
from django.utils import timezone

from marketplace import services as core_services
from review_requests import webhook_delivery
from review_requests.models import ReviewRequest, WebhookAttempt, WebhookEvent
from review_requests.services import request_transition
from review_requests.webhooks import (
    MAX_ATTEMPTS,
    VERIFY_SNIPPET,
    retry_delay,
    standard_webhooks_secret,
    webhook_event_resend,
)
from tests.factories import ReviewRequestFactory, WebhookEventFactory
from tests.review_requests.company_helpers import webhook_receiver

pytestmark = pytest.mark.django_db


def reference_verifier():
    namespace: dict = {}
    exec(VERIFY_SNIPPET, namespace)  # the snippet companies copy from /company/webhooks/
    return namespace["verify_inloop_signature"]


@pytest.fixture
def debug(settings):
    """Loopback receivers are allowed only with DEBUG (as in development)."""
    settings.DEBUG = True
    return settings


def _request_to(organization, url) -> ReviewRequest:
    return ReviewRequestFactory(organization=organization, callback_url=url)


def _due_now(event: WebhookEvent) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_event_goes_out_only_after_commit_signed_with_the_frozen_body(
    debug, organization, django_capture_on_commit_callbacks
):
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            request_transition(review_request=review_request, to="in_review")
        # Inside the transaction nothing was sent: delivery waits for the commit.
        assert receiver.received == []
        for callback in callbacks:
            callback()
        receiver.wait_for(1)

    event = WebhookEvent.objects.get()
    [got] = receiver.received
    assert got.path == "/hooks/inloop"
    assert got.body.decode() == event.body
    payload = json.loads(got.body)
    assert set(payload) == {"id", "type", "created", "data"}
    assert payload["id"] == event.id and event.id.startswith("evt_")
    assert payload["type"] == "review_request.in_review"
    assert payload["data"]["id"] == str(review_request.id)
    assert payload["data"]["status"] == "in_review"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Inloop-Event-Id"] == event.id

    verify = reference_verifier()
    signature = got.headers["Inloop-Signature"]
    assert signature.startswith("t=") and ",v1=" in signature
    assert verify(got.body, signature, organization.webhook_secret)
    assert not verify(got.body + b" ", signature, organization.webhook_secret)
    assert not verify(got.body, signature, "whsec_wrong")

    event.refresh_from_db()
    assert event.delivered_at is not None and event.next_attempt_at is None
    attempt = WebhookAttempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.succeeded) == (1, 200, True)
    assert attempt.response_excerpt == "ok"


def test_each_status_change_of_the_contract_makes_its_event(
    debug, organization, django_capture_on_commit_callbacks
):
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="in_review")
            request_transition(review_request=review_request, to="cancelled")
        receiver.wait_for(2)
        expired = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=expired, to="expired")
        receiver.wait_for(3)
    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types == [
        "review_request.in_review",
        "review_request.cancelled",
        "review_request.expired",
    ]


def test_standard_webhooks_library_verifies_a_delivery_with_the_secret_as_shown(
    debug, organization, django_capture_on_commit_callbacks
):
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        receiver.wait_for(1)

    [got] = receiver.received
    event = WebhookEvent.objects.get()
    assert got.headers["webhook-id"] == event.id
    # Both schemes sign at the same moment.
    assert got.headers["Inloop-Signature"].startswith(f"t={got.headers['webhook-timestamp']},")
    # The organization's secret, exactly as the webhooks page shows it, is a valid Standard
    # Webhooks secret: the library accepts the delivery with it and returns the event.
    assert organization.webhook_secret.startswith("whsec_")
    assert standard_webhooks_secret(organization.webhook_secret) == organization.webhook_secret
    verified = standardwebhooks.Webhook(organization.webhook_secret).verify(got.body, got.headers)
    assert verified["id"] == event.id and verified["type"] == "review_request.cancelled"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(organization.webhook_secret).verify(got.body + b" ", got.headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + "0" * 48).verify(got.body, got.headers)
    # The contract's own signature is unchanged beside it.
    assert reference_verifier()(
        got.body, got.headers["Inloop-Signature"], organization.webhook_secret
    )


def test_a_secret_not_in_standard_form_maps_to_whsec_base64_of_itself(
    debug, organization, django_capture_on_commit_callbacks
):
    organization.webhook_secret = "legacy secret, not base64!"
    organization.save(update_fields=["webhook_secret"])
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        receiver.wait_for(1)

    [got] = receiver.received
    mapped = standard_webhooks_secret(organization.webhook_secret)
    assert mapped == "whsec_bGVnYWN5IHNlY3JldCwgbm90IGJhc2U2NCE="
    assert standardwebhooks.Webhook(mapped).verify(got.body, got.headers)["id"]
    assert reference_verifier()(
        got.body, got.headers["Inloop-Signature"], organization.webhook_secret
    )


def test_retries_keep_the_standard_webhook_id_and_sign_a_fresh_timestamp(
    debug, organization, django_capture_on_commit_callbacks
):
    with webhook_receiver(status=500) as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        event = WebhookEvent.objects.get()
        _due_now(event)
        webhook_delivery.retry_due()
        receiver.wait_for(2)
    first, second = receiver.received
    # Standard Webhooks receivers deduplicate on webhook-id: one event, one id, every attempt.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.id
    for got in (first, second):
        standardwebhooks.Webhook(organization.webhook_secret).verify(got.body, got.headers)


def test_no_callback_url_means_no_event(organization, django_capture_on_commit_callbacks):
    review_request = ReviewRequestFactory(organization=organization)
    with django_capture_on_commit_callbacks(execute=True):
        request_transition(review_request=review_request, to="cancelled")
    assert not WebhookEvent.objects.exists()


def test_non_2xx_is_logged_and_retried_with_growing_backoff(
    debug, organization, django_capture_on_commit_callbacks
):
    with webhook_receiver(status=500, reply=b"receiver exploded") as receiver:
        review_request = _request_to(organization, receiver.url)
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        event = WebhookEvent.objects.get()
        event.refresh_from_db()
        assert event.attempts == 1 and event.delivered_at is None and event.gave_up_at is None
        first_delay = event.next_attempt_at - before
        assert timedelta(seconds=25) < first_delay <= timedelta(seconds=31)

        # The periodic task picks it up once due; the next wait doubles.
        _due_now(event)
        assert webhook_delivery.retry_due() == 1
        receiver.wait_for(2)
        event.refresh_from_db()
        assert event.attempts == 2
        assert timedelta(seconds=55) < event.next_attempt_at - timezone.now() <= timedelta(60)

    attempts = list(WebhookAttempt.objects.order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
    ]
    assert attempts[0].response_excerpt == "receiver exploded"
    assert len({r.body for r in receiver.received}) == 1  # same bytes every time


def test_a_timeout_is_logged_and_retried(debug, organization, django_capture_on_commit_callbacks):
    debug.WEBHOOK_TIMEOUT_SECONDS = 1
    with webhook_receiver(delay=1.6) as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and not attempt.succeeded
    assert "Timed out" in attempt.error
    assert 900 <= attempt.latency_ms < 1600
    event = WebhookEvent.objects.get()
    assert event.delivered_at is None and event.next_attempt_at > timezone.now()


def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    debug, organization, django_capture_on_commit_callbacks
):
    with webhook_receiver(status=302) as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        assert len(receiver.received) == 1
    assert WebhookAttempt.objects.get().status_code == 302
    assert WebhookEvent.objects.get().delivered_at is None


def test_after_max_attempts_it_gives_up(debug, organization, django_capture_on_commit_callbacks):
    with webhook_receiver(status=503) as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        event = WebhookEvent.objects.get()
        WebhookEvent.objects.filter(pk=event.pk).update(attempts=MAX_ATTEMPTS - 1)
        _due_now(event)
        assert webhook_delivery.attempt(event_id=event.pk) == "gave_up"
        event.refresh_from_db()
        assert event.gave_up_at is not None and event.next_attempt_at is None
        # A given-up event is no longer due, and a stray task does nothing.
        assert webhook_delivery.retry_due() == 0
        assert webhook_delivery.attempt(event_id=event.pk) == "skipped"
        assert len(receiver.received) == 2


def test_retry_schedule_spans_more_than_a_day():
    waits = sum((retry_delay(n) for n in range(1, MAX_ATTEMPTS)), timedelta())
    assert waits >= timedelta(hours=24)
    assert retry_delay(1) == timedelta(seconds=30)
    assert retry_delay(2) == timedelta(seconds=60)
    assert retry_delay(MAX_ATTEMPTS) == timedelta(hours=4)


def test_resend_is_a_new_attempt_of_the_same_event_body(
    debug, organization, company_member, django_capture_on_commit_callbacks
):
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        event = WebhookEvent.objects.get()
        # The secret is rotated meanwhile: the resend is signed with the current one.
        new_secret = core_services.webhook_secret_rotate(
            organization=organization, actor=company_member
        )
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_resend(event=event, actor=company_member)
        receiver.wait_for(2)

    first, second = receiver.received
    assert first.body == second.body
    assert json.loads(second.body)["id"] == event.id
    assert second.headers["Inloop-Event-Id"] == event.id
    assert reference_verifier()(second.body, second.headers["Inloop-Signature"], new_secret)
    assert list(WebhookAttempt.objects.order_by("number").values_list("number", flat=True)) == [
        1,
        2,
    ]
    assert WebhookEvent.objects.count() == 1


def test_a_successful_resend_of_a_given_up_event_marks_it_delivered(
    debug, organization, company_member, django_capture_on_commit_callbacks
):
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        event = WebhookEventFactory(
            id="evt_given_up_before",
            review_request=review_request,
            url=receiver.url,
            body='{"id":"evt_given_up_before"}',
            attempts=MAX_ATTEMPTS,
            gave_up_at=timezone.now(),
        )
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_resend(event=event, actor=company_member)
        receiver.wait_for(1)
    event.refresh_from_db()
    assert event.delivered_at is not None and event.gave_up_at is None
    assert receiver.received[0].body == b'{"id":"evt_given_up_before"}'


def test_a_plain_member_cannot_resend(organization, plain_member):
    from django.core.exceptions import PermissionDenied

    review_request = ReviewRequestFactory(
        organization=organization, callback_url="https://93.184.216.34/h"
    )
    event = WebhookEventFactory(
        id="evt_member",
        review_request=review_request,
    )
    with pytest.raises(PermissionDenied):
        webhook_event_resend(event=event, actor=plain_member)


def test_a_claimed_attempt_cannot_be_claimed_again(debug, organization):
    review_request = ReviewRequestFactory(
        organization=organization, callback_url="http://127.0.0.1:9/h"
    )
    event = WebhookEventFactory(
        id="evt_claim",
        review_request=review_request,
        next_attempt_at=timezone.now(),
    )
    first = webhook_delivery.attempt_claim(event_id=event.pk)
    assert first is not None and first.number == 1
    # A second worker (or the periodic task) finds the attempt parked, not due.
    assert webhook_delivery.attempt_claim(event_id=event.pk) is None
    assert webhook_delivery.attempt(event_id=event.pk) == "skipped"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_one_attempt(settings, company_member):
    settings.DEBUG = True
    from marketplace.models import Membership

    organization = Membership.objects.get(user=company_member).organization
    with webhook_receiver(delay=0.3) as receiver:
        review_request = ReviewRequestFactory(organization=organization, callback_url=receiver.url)
        event = WebhookEventFactory(
            id="evt_race",
            review_request=review_request,
            url=receiver.url,
            next_attempt_at=timezone.now(),
        )
        results: list[str] = []
        barrier = threading.Barrier(2)

        def worker():
            barrier.wait()
            try:
                results.append(webhook_delivery.attempt(event_id=event.pk))
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == ["delivered", "skipped"]
    assert len(receiver.received) == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_private_address_is_refused_at_delivery_without_debug(
    settings, organization, django_capture_on_commit_callbacks
):
    settings.DEBUG = False
    with webhook_receiver() as receiver:
        review_request = _request_to(organization, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            request_transition(review_request=review_request, to="cancelled")
        assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("Refused")
    assert WebhookEvent.objects.get().next_attempt_at is not None  # retried later


def test_dns_rebinding_to_loopback_is_refused_at_delivery(
    settings, organization, monkeypatch, django_capture_on_commit_callbacks
):
    """The URL passed the check at creation; by delivery its name points inside."""
    settings.DEBUG = False
    review_request = _request_to(organization, "https://hooks.customer.test/inloop")
    real_getaddrinfo = socket.getaddrinfo

    def rebound(host, port, *args, **kwargs):
        if host == "hooks.customer.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    with django_capture_on_commit_callbacks(execute=True):
        request_transition(review_request=review_request, to="cancelled")
    attempt = WebhookAttempt.objects.get()
    assert "private, loopback or reserved" in attempt.error


def test_delivery_connects_to_the_address_it_checked(debug, organization, monkeypatch):
    """One lookup per attempt: a second, different answer cannot redirect the connection."""
    with webhook_receiver() as receiver:
        review_request = ReviewRequestFactory(
            organization=organization,
            callback_url=f"http://localhost:{receiver.port}/hooks/inloop",
        )
        event = WebhookEventFactory(
            id="evt_pinned",
            review_request=review_request,
            next_attempt_at=timezone.now(),
        )
        real_getaddrinfo = socket.getaddrinfo
        answers = iter(["127.0.0.1", "203.0.113.7"])

        def flipping(host, port, *args, **kwargs):
            if host == "localhost":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
            return real_getaddrinfo(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", flipping)
        assert webhook_delivery.attempt(event_id=event.pk) == "delivered"
        assert len(receiver.received) == 1
        assert receiver.received[0].headers["Host"] == f"localhost:{receiver.port}"


@pytest.mark.parametrize("answer", ["64:ff9b::a9fe:a9fe", "::ffff:0:7f00:1", "2002:a00:5::1"])
def test_a_name_rebound_to_an_ipv6_form_of_an_internal_address_is_refused_at_delivery(
    settings, organization, monkeypatch, django_capture_on_commit_callbacks, answer
):
    """NAT64, IPv4-translated and 6to4 answers carrying 169.254.169.254, 127.0.0.1 and 10.0.0.5
    are refused by the check at delivery; the test fails, rather than connects, if they are not."""
    settings.DEBUG = False
    review_request = _request_to(organization, "https://hooks.customer.test/inloop")

    def rebound(host, port, *args, **kwargs):
        assert host == "hooks.customer.test"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (answer, port, 0, 0))]

    def never_connect(**kwargs):
        raise AssertionError(f"delivery tried to connect to {kwargs['target'].address}")

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    monkeypatch.setattr(webhook_delivery, "_post", never_connect)
    with django_capture_on_commit_callbacks(execute=True):
        request_transition(review_request=review_request, to="cancelled")
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and not attempt.succeeded
    assert "private, loopback or reserved" in attempt.error
