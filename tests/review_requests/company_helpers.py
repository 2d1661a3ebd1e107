"""Small builders for the company-side tests (webhooks, pages, exports): review requests,
assignments with an expert, and a real HTTP receiver on 127.0.0.1 for webhook deliveries."""

from __future__ import annotations

import http.server
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from experts.models import ExpertProfile, Specialization
from marketplace.models import User
from review_requests.models import Assignment, Review, ReviewRequest
from tests.conftest import make_user

_counter = {"n": 0}


def radiology() -> Specialization:
    """From the taxonomy migration; made again after a transaction=True test flushed it."""
    medicine, _ = Specialization.objects.get_or_create(
        slug="medicine", defaults={"name": "Medicine", "requires_credentials": True}
    )
    specialization, _ = Specialization.objects.get_or_create(
        slug="medicine.radiology",
        defaults={"name": "Radiology", "parent": medicine, "depth": 1},
    )
    return specialization


def make_review_request(organization, **overrides: Any) -> ReviewRequest:
    fields: dict[str, Any] = {
        "organization": organization,
        "title": "Check this radiology report",
        "specialization": radiology(),
        "content_type": "text",
        "content": {"type": "text", "body": "The scan shows no fracture."},
        "max_hours": Decimal("1.00"),
    }
    fields.update(overrides)
    return ReviewRequest.objects.create(**fields)


def make_expert_profile(*, user: User | None = None, display_name: str = "") -> ExpertProfile:
    if user is None:
        _counter["n"] += 1
        user = make_user(f"helper.expert{_counter['n']}@inloop.test", User.AccountType.EXPERT)
    return ExpertProfile.objects.create(
        user=user,
        display_name=display_name or f"Dr. {user.email.split('@')[0]}",
        hourly_rate_cents=12_000,
    )


def make_assignment(review_request: ReviewRequest, **overrides: Any) -> Assignment:
    expert = overrides.pop("expert", None) or make_expert_profile()
    fields: dict[str, Any] = {
        "review_request": review_request,
        "expert": expert,
        "rate_cents": expert.hourly_rate_cents or 12_000,
        "max_seconds": int(review_request.max_hours * 3600),
    }
    fields.update(overrides)
    return Assignment.objects.create(**fields)


def make_review(assignment: Assignment, **overrides: Any) -> Review:
    fields: dict[str, Any] = {
        "assignment": assignment,
        "verdict": "corrected",
        "corrected_output": "The scan shows a hairline fracture.",
        "summary": "Missed a fracture.",
        "scores": {"accuracy": 2},
        "annotations": [],
    }
    fields.update(overrides)
    return Review.objects.create(**fields)


# A real HTTP receiver ------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with `status` after sleeping `delay` seconds; records what it got."""

    status: int = 200
    delay: float = 0.0
    reply: bytes = b"ok"
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/inloop"

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@contextmanager
def webhook_receiver(**options: Any):
    receiver = Receiver(**options)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.received.append(
                Received(path=self.path, headers=dict(self.headers.items()), body=body)
            )
            if receiver.delay:
                time.sleep(receiver.delay)
            try:
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
