"""In a real browser: untrusted content (AI output of every kind, prompt, guidelines, metadata,
title, a result's corrected output, summary and annotations) is shown on the company's pages, the
submit form's live preview and the expert's offer inbox, and no payload in it ever runs."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import _env, _manage
from tests.e2e.test_workspace_e2e import WAIT_MS, XSS, login, watch_for_xss

pytestmark = pytest.mark.e2e

BODIES = {
    "text": {"type": "text", "body": "Plain output. " + XSS},
    "markdown": {
        "type": "markdown",
        "body": "# Findings\n\n[click](javascript:window.__xss=3) " + XSS,
    },
    "code": {"type": "code", "language": "python", "body": "print('hi')  # " + XSS},
    "json": {"type": "json", "body": {"answer": XSS, "nested": [XSS]}},
    "chat": {
        "type": "chat",
        "body": [
            {"role": "user", "content": "Is it safe? " + XSS},
            {"role": "assistant", "content": XSS},
        ],
    },
}

PREVIEW_MARKER = {
    "text": "Plain output",
    "markdown": "Findings",
    "code": "print",
    "json": "answer",
    "chat": "Is it safe",
}

# Marks a request completed with a review full of payloads, the way the workspace's submit
# stores it (review row + consensus result), so the result view renders untrusted text. Run by
# `manage.py shell` with `request_id` and `xss` defined before it.
COMPLETE = """
from django.utils import timezone
from experts.models import ExpertProfile
from review_requests.models import Assignment, Review, ReviewRequest
from review_requests.results import consensus
from review_requests.workspace import _review_dict

rr = ReviewRequest.objects.get(pk=request_id)
assignment = Assignment.objects.create(
    review_request=rr, expert=ExpertProfile.objects.order_by("created_at").first(),
    rate_cents=10000, max_seconds=3600, status="submitted", billed_seconds=600,
    accepted_at=timezone.now(), submitted_at=timezone.now(),
)
review = Review.objects.create(
    assignment=assignment, verdict="corrected", corrected_output="Fixed output. " + xss,
    summary="Summary " + xss, scores={"accuracy": 3},
    annotations=[{"start": 0, "end": 5, "quote": "Plain", "comment": xss, "severity": "major"}],
    submitted_at=timezone.now(),
)
ReviewRequest.objects.filter(pk=rr.pk).update(
    result=consensus([_review_dict(review)]), status="completed", completed_at=timezone.now()
)
"""


def _complete(server, request_id: str) -> None:
    script = f"request_id, xss = {request_id!r}, {XSS!r}\n" + COMPLETE
    _manage(_env(server.db_path), "shell", "-c", script)


def _assert_nothing_ran(page, alerts: list) -> None:
    assert page.evaluate("window.__xss") is None
    live = page.evaluate(
        """() => [
          ...[...document.querySelectorAll("[onerror], [onclick], [onload]")].map((e) => e.outerHTML),
          ...[...document.querySelectorAll("script")]
            .filter((s) => ["", "text/javascript", "module"].includes(s.type))
            .filter((s) => s.textContent.includes("__xss"))
            .map((s) => s.outerHTML),
          ...[...document.querySelectorAll("a[href^='javascript:']")].map((a) => a.outerHTML),
        ]"""
    )
    assert live == []
    assert alerts == []


def test_no_payload_runs_on_company_pages_previews_or_the_offer_inbox(
    live_server_daphne, browser, artifacts
):
    server = live_server_daphne
    on_call = next(e for e in server.seed["experts"] if e["always_available"])
    specialization = on_call["specializations"][0]
    created = {
        kind: server.api(
            "POST",
            "/api/v1/review-requests",
            {
                "title": f"{kind} check " + XSS,
                "specialization": specialization,
                "content": content,
                "prompt": "Prompt " + XSS,
                "guidelines": "**Guidelines** " + XSS,
                "metadata": {"batch": XSS},
                "max_hours": 1,
            },
        )
        for kind, content in BODIES.items()
    }
    _complete(server, created["text"]["id"])

    alerts: list[str] = []
    company = browser.new_context(viewport={"width": 1300, "height": 1000})
    expert = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        member = server.seed["company"]["members"][0]
        page = login(company, server.url, member["email"], member["password"])
        watch_for_xss(page, alerts)
        page.goto(server.url + "/company/requests/")
        assert page.locator("text=text check").count() >= 1
        _assert_nothing_ran(page, alerts)
        page.goto(server.url + "/company/requests/?q=" + json.dumps(XSS)[1:-1])
        _assert_nothing_ran(page, alerts)
        for request in created.values():
            page.goto(f"{server.url}/company/requests/{request['id']}/")
            page.wait_for_load_state("networkidle")
            _assert_nothing_ran(page, alerts)
        # The completed one shows the corrected output as a diff and the annotation in place.
        page.goto(f"{server.url}/company/requests/{created['text']['id']}/")
        assert page.get_by_text("Summary <img", exact=False).count() >= 1
        page.screenshot(path=str(artifacts / "company-result-xss.png"), full_page=True)
        _assert_nothing_ran(page, alerts)

        # The live preview of the submit form, for every kind of content.
        page.goto(server.url + "/company/requests/new/")
        for kind, content in BODIES.items():
            page.select_option("select[name=content_type]", kind)
            body = content["body"]
            page.fill(
                "textarea[name=body]",
                body
                if isinstance(body, str)
                else json.dumps(body)
                if kind == "json"
                else "\n".join(f"{m['role']}: {m['content']}" for m in body),
            )
            page.wait_for_function(
                "(marker) => document.getElementById('content-preview').textContent"
                ".includes(marker)",
                arg=PREVIEW_MARKER[kind],
                timeout=WAIT_MS,
            )
            _assert_nothing_ran(page, alerts)
        page.fill("textarea[name=guidelines]", "**Be careful** " + XSS)
        page.wait_for_function(
            "() => document.getElementById('guidelines-preview').textContent.includes('Be careful')",
            timeout=WAIT_MS,
        )
        assert page.locator("#guidelines-preview strong").count() == 1  # markdown still renders
        _assert_nothing_ran(page, alerts)

        # The on-call expert's inbox lists the offers with their titles.
        inbox = login(expert, server.url, on_call["email"], on_call["password"])
        watch_for_xss(inbox, alerts)
        inbox.goto(server.url + "/expert/offers/")
        inbox.wait_for_load_state("networkidle")
        _assert_nothing_ran(inbox, alerts)
    finally:
        company.close()
        expert.close()
