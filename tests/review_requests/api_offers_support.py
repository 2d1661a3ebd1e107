"""Helpers shared by the API and offers tests (not a test module)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from billing.services import credit_grant
from experts.models import Specialization
from review_requests.models import Offer, ReviewRequest


def body(**overrides) -> dict:
    data = {
        "title": "Check this radiology report",
        "specialization": "medicine.radiology",
        "content": {"type": "text", "body": "The chest X-ray shows no acute findings."},
        "max_hours": 1.5,
    }
    data.update(overrides)
    return data


def api_client(raw_key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def post_json(client: Client, path: str, data, **headers):
    return client.post(
        path,
        data=json.dumps(data) if not isinstance(data, str | bytes) else data,
        content_type="application/json",
        **headers,
    )


def fund(organization, cents: int = 1_000_000) -> None:
    credit_grant(organization=organization, amount_cents=cents, reason="test funds")


def make_request(organization, **fields) -> ReviewRequest:
    values = {
        "title": "Check this",
        "specialization": Specialization.objects.get(slug="medicine.radiology"),
        "content_type": "text",
        "content": {"type": "text", "body": "The scan shows no fracture."},
        "max_hours": Decimal("1.00"),
    }
    values.update(fields)
    return ReviewRequest.objects.create(organization=organization, **values)


def make_offer(review_request, expert_profile, *, minutes: int = 15, **fields) -> Offer:
    values = {
        "rate_cents": expert_profile.hourly_rate_cents or 10_000,
        "expires_at": timezone.now() + timedelta(minutes=minutes),
        "reason": "radiology, 5 y",
    }
    values.update(fields)
    return Offer.objects.create(review_request=review_request, expert=expert_profile, **values)


def radiologist(user=None, **fields):
    """A matchable radiologist (verified medicine credential, always available)."""
    from tests.factories import ExpertProfileFactory

    extra = {"user": user} if user is not None else {}
    values = {
        "specializations": ["medicine.radiology"],
        "credentials": ["medicine"],
        "always_available": True,
        "hourly_rate_cents": 10_000,
    }
    values.update(fields)
    return ExpertProfileFactory(**extra, **values)
