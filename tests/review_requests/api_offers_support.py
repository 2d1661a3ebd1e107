"""Helpers shared by the API and offers tests (not a test module)."""

from __future__ import annotations

import json

from django.test import Client


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
