"""Notifications for companies and experts, in-app and by email (console backend), for offers,
acceptances, completions, disputes and decisions; a per-kind preference turns the email off."""

from __future__ import annotations

import pytest
from django.core import mail

from marketplace.models import Notification, NotificationPreference
from review_requests.services import offer_accept
from tests.console.dispute_support import open_dispute, submitted_assignment
from tests.factories import CreditGrantFactory, OfferFactory, ReviewRequestFactory
from tests.review_requests.api_offers_support import radiologist

pytestmark = pytest.mark.django_db


def emails_to(user, *, containing: str) -> list:
    return [m for m in mail.outbox if user.email in m.to and containing in m.subject]


def test_an_accept_tells_the_company_in_app_and_by_email(
    organization, company_member, django_capture_on_commit_callbacks
):
    CreditGrantFactory(organization=organization, amount_cents=1_000_000)
    profile = radiologist(display_name="Dr. Ada")
    rr = ReviewRequestFactory(organization=organization, title="Chest X-ray summary")
    offer = OfferFactory(review_request=rr, expert=profile)
    with django_capture_on_commit_callbacks(execute=True):
        offer_accept(offer_id=offer.pk, expert=profile)
        offer_accept(offer_id=offer.pk, expert=profile)  # a double click tells them once
    note = Notification.objects.get(user=company_member, kind="accepted")
    assert "Chest X-ray summary" in note.title and "Dr. Ada" in note.body
    assert note.url == f"/company/requests/{rr.pk}/"
    assert len(emails_to(company_member, containing="Offer accepted")) == 1


def test_a_completed_review_tells_the_company(
    organization, company_member, expert, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assignment = submitted_assignment(organization, expert)
    note = Notification.objects.get(user=company_member, kind="completed")
    assert note.url == f"/company/requests/{assignment.review_request_id}/"
    assert len(emails_to(company_member, containing="Review completed")) == 1


def test_the_email_preference_keeps_the_in_app_notification(
    organization, company_member, expert, django_capture_on_commit_callbacks
):
    NotificationPreference.objects.create(user=company_member, kind="completed", email=False)
    with django_capture_on_commit_callbacks(execute=True):
        submitted_assignment(organization, expert)
    assert Notification.objects.filter(user=company_member, kind="completed").exists()
    assert emails_to(company_member, containing="Review completed") == []


def test_disputes_and_decisions_reach_both_parties_by_both_channels(
    organization, company_member, expert, operator, django_capture_on_commit_callbacks
):
    from review_requests import dispute_services

    assignment = submitted_assignment(organization, expert)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        dispute = open_dispute(assignment, company_member)
        dispute_services.dispute_expert_answer(
            dispute=dispute, user=expert, statement="It was right."
        )
        dispute_services.dispute_decide(
            dispute=dispute, operator=operator, outcome="release", note="The review stands."
        )
    assert Notification.objects.filter(user=expert, kind="dispute").exists()
    assert Notification.objects.filter(user=company_member, kind="dispute").exists()
    for user in (company_member, expert):
        decision = Notification.objects.get(user=user, kind="decision")
        assert "The review stands." in decision.body
        assert len(emails_to(user, containing="Dispute decided")) == 1
    assert emails_to(expert, containing="disputed")
    assert emails_to(company_member, containing="expert answered")
