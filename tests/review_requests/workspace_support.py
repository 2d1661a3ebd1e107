"""Builders for workspace tests: a funded company, a request in review, an assignment with its
billing hold (as offer_accept leaves it), and websocket communicators with real sessions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import AsyncClient

from billing import services as billing_services
from experts.models import ExpertProfile, Specialization
from inloop_site.asgi import application
from marketplace.selectors import platform_fee_percent
from review_requests.models import Assignment, ReviewRequest

ORIGIN = (b"origin", b"http://testserver")
TEXT = "The scan shows a small fracture of the left radius. No further findings."
RUBRIC = [
    {"key": "accuracy", "label": "Accuracy", "scale": 5},
    {"key": "clarity", "label": "Clarity", "scale": 3},
]


def expert_profile(user, *, rate_cents: int = 6_000, name: str = "") -> ExpertProfile:
    profile, _ = ExpertProfile.objects.get_or_create(
        user=user,
        defaults={
            "display_name": name or f"Dr. {user.first_name or 'Expert'}",
            "hourly_rate_cents": rate_cents,
        },
    )
    return profile


def fund(organization, cents: int = 1_000_000) -> None:
    billing_services.credit_grant(organization=organization, amount_cents=cents, reason="tests")


def radiology() -> Specialization:
    """From the taxonomy migration; made again after a transaction=True test flushed it."""
    medicine, _ = Specialization.objects.get_or_create(
        slug="medicine", defaults={"name": "Medicine", "requires_credentials": True}
    )
    specialization, _ = Specialization.objects.get_or_create(
        slug="medicine.radiology",
        defaults={
            "name": "Radiology",
            "parent": medicine,
            "depth": 1,
            "requires_credentials": True,
        },
    )
    return specialization


def make_request(
    organization,
    *,
    content: dict[str, Any] | None = None,
    rubric: list | None = None,
    reviewers: int = 1,
    max_hours: str = "1.00",
    status: str = ReviewRequest.Status.IN_REVIEW,
    callback_url: str = "",
) -> ReviewRequest:
    content = content or {"type": "text", "body": TEXT}
    return ReviewRequest.objects.create(
        organization=organization,
        title="Radiology report check",
        specialization=radiology(),
        content_type=content["type"],
        content=content,
        prompt="Summarize the X-ray.",
        guidelines="Check **every** finding.",
        rubric=RUBRIC if rubric is None else rubric,
        max_hours=Decimal(max_hours),
        reviewers=reviewers,
        status=status,
        callback_url=callback_url,
    )


def make_assignment(review_request: ReviewRequest, expert_user, *, rate_cents: int = 6_000):
    """An accepted assignment with its hold placed, the way offer_accept leaves it."""
    profile = expert_profile(expert_user, rate_cents=rate_cents)
    max_seconds = int(review_request.max_hours * 3600)
    assignment = Assignment(
        review_request=review_request,
        expert=profile,
        rate_cents=rate_cents,
        max_seconds=max_seconds,
    )
    assignment.hold_ref = f"assignment:{assignment.pk}"
    with transaction.atomic():
        assignment.save(force_insert=True)
        billing_services.hold_place(
            organization=review_request.organization,
            ref=assignment.hold_ref,
            amount_cents=billing_services.hold_amount_for(
                max_hours=review_request.max_hours,
                rate_cents=rate_cents,
                fee_percent=platform_fee_percent(),
            ),
        )
    return assignment


async def session_cookie(user) -> bytes:
    client = AsyncClient()
    await client.aforce_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator(
    assignment_id,
    *,
    cookie: bytes | None = None,
    origin=ORIGIN,
    after_seq: int | None = None,
    app=application,
) -> WebsocketCommunicator:
    path = f"/ws/assignments/{assignment_id}/"
    if after_seq is not None:
        path += f"?after_seq={after_seq}"
    headers = [origin] if origin else []
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(app, path, headers=headers)


async def join(assignment_id, user, **kwargs) -> tuple[WebsocketCommunicator, dict]:
    """Connected communicator and its snapshot."""
    comm = communicator(assignment_id, cookie=await session_cookie(user), **kwargs)
    connected, code = await comm.connect()
    assert connected, code
    snapshot = await comm.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    return comm, snapshot


async def receive_until(comm: WebsocketCommunicator, frame_type: str, *, timeout: float = 5):
    """The next frame of this type, skipping presence and other frames on the way."""
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type:
            return frame


async def next_event(comm: WebsocketCommunicator, *, timeout: float = 5) -> dict:
    return await receive_until(comm, "event", timeout=timeout)


async def drain(comm: WebsocketCommunicator, *, quiet: float = 0.3) -> list[dict]:
    """Every output until the socket stays quiet. (receive_output's own timeout would cancel
    the application, so waiting is done with receive_nothing.)"""
    outputs = []
    while not await comm.receive_nothing(timeout=quiet):
        outputs.append(await comm.receive_output())
    return outputs
