"""In a real browser at 390 and 1280 px: the company's result of a four-eyes request whose two
independent reviews disagreed and went to an adjudicator: the adjudication (who, verdict,
summary) and the agreement per criterion (Krippendorff's alpha per verdict and rubric score)
are shown, every review is listed, nothing scrolls sideways; and the review settings page, where
an owner turns adjudication on; and the agreement over requests: the company's agreement page
(figures, then an empty period's empty state) and an expert's own agreement by month on their
qualifications page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import _env, _manage
from tests.e2e.test_workspace_e2e import WAIT_MS, login

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parent / "artifacts"
RUBRIC = [
    {"key": "correctness", "label": "Correctness", "scale": 5},
    {"key": "clarity", "label": "Clarity", "scale": 5},
]

# Two experts disagree and a third adjudicates, stored the way the workspace's submit stores it.
# Run by `manage.py shell` with `request_id` defined before it.
ADJUDICATE = r"""
from datetime import timedelta
from django.utils import timezone
from experts.models import ExpertProfile
from review_requests.models import Assignment, Review, ReviewRequest
from review_requests.results import adjudicated_result, consensus
from review_requests.workspace import _review_dict

rr = ReviewRequest.objects.get(pk=request_id)
experts = list(ExpertProfile.objects.order_by("created_at")[:3])
reviews = [
    dict(verdict="approved", summary="Reads fine.", scores={"correctness": 5, "clarity": 4}),
    dict(verdict="rejected", summary="States the wrong dose.", scores={"correctness": 1, "clarity": 4}),
    dict(verdict="corrected", corrected_output="Take 200 mg twice a day.",
         summary="The dose is wrong; the rest is right.", scores={}),
]
rows = []
now = timezone.now()
for number, (expert, fields) in enumerate(zip(experts, reviews)):
    assignment = Assignment.objects.create(
        review_request=rr, expert=expert, rate_cents=12000, max_seconds=3600, status="submitted",
        billed_seconds=600, accepted_at=now + timedelta(seconds=number), submitted_at=now,
        adjudicator=number == 2,
    )
    rows.append(Review.objects.create(
        assignment=assignment, submitted_at=now + timedelta(seconds=number), **fields
    ))
independent = consensus([_review_dict(r) for r in rows[:2]], rr.rubric)
result = adjudicated_result(independent, _review_dict(rows[2]), four_eyes=True)
ReviewRequest.objects.filter(pk=rr.pk).update(
    result=result, status="completed", completed_at=now, adjudication_wanted_at=now
)
"""


def test_adjudicated_result_and_agreement_at_phone_and_desktop_width(live_server_daphne, browser):
    server = live_server_daphne
    on_call = next(e for e in server.seed["experts"] if e["always_available"])
    created = server.api(
        "POST",
        "/api/v1/review-requests",
        {
            "title": "dosage answer",
            "specialization": on_call["specializations"][0],
            "content": {"type": "text", "body": "Take 200 mg once a day."},
            "rubric": RUBRIC,
            "reviewers": 2,
            "four_eyes": True,
            "max_hours": 1,
        },
    )
    assert created["blind"] is True and created["four_eyes"] is True
    _manage(_env(server.db_path), "shell", "-c", f"request_id = {created['id']!r}\n" + ADJUDICATE)
    SHOTS.mkdir(exist_ok=True)
    member = server.seed["company"]["members"][0]
    errors: list[str] = []
    for width in (390, 1280):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = login(context, server.url, member["email"], member["password"])
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/company/requests/{created['id']}/")
            page.wait_for_load_state("networkidle")
            adjudication = page.locator("#rr-adjudication")
            adjudication.wait_for(state="visible", timeout=WAIT_MS)
            assert adjudication.locator("h3").inner_text().startswith("Adjudicated by ")
            assert adjudication.locator("[data-field=adjudication-verdict]").inner_text() == (
                "Corrected"
            )
            assert "four-eyes" in adjudication.inner_text()
            assert "The dose is wrong" in adjudication.inner_text()
            agreement = page.locator("#rr-agreement")
            assert agreement.is_visible()
            rows = agreement.locator("tbody tr")
            assert rows.count() == 3
            verdict = agreement.locator("[data-agreement=verdict]").inner_text()
            assert "Verdict" in verdict and "0.00" in verdict and "disagree" in verdict
            clarity = agreement.locator('[data-agreement="scores.clarity"]').inner_text()
            assert "Clarity" in clarity and "1.00" in clarity
            correctness = agreement.locator('[data-agreement="scores.correctness"]').inner_text()
            assert "Correctness" in correctness and "0.00" in correctness
            # The final verdict is the adjudicator's; both independent reviews are listed.
            assert page.locator("#consensus [data-field=verdict]").inner_text() == "Corrected"
            assert page.locator("[data-result-section]").count() == 3
            badges = page.locator("#rr-assignments").inner_text()
            assert badges.count("Adjudicator") == 1
            width_px = page.evaluate("() => document.scrollingElement.scrollWidth")
            assert width_px <= width, width_px
            page.screenshot(path=str(SHOTS / f"adjudicated-{width}.png"), full_page=True)

            page.goto(f"{server.url}/company/review-settings/")
            page.wait_for_load_state("networkidle")
            field = page.get_by_label("Adjudicate when agreement is below (%)")
            field.fill("75")
            page.get_by_role("button", name="Save").click()
            page.wait_for_load_state("networkidle")
            assert "below 75%" in page.locator("[data-threshold]").inner_text()
            width_px = page.evaluate("() => document.scrollingElement.scrollWidth")
            assert width_px <= width, width_px
            page.screenshot(path=str(SHOTS / f"review-settings-{width}.png"), full_page=True)
            assert errors == []
        finally:
            context.close()


# Two seeded experts review the request independently and disagree, stored as the workspace's
# submit stores it. Run by `manage.py shell` with `request_id` and `emails` defined before it.
REVIEW_TWICE = r"""
from django.utils import timezone
from experts.models import ExpertProfile
from review_requests.models import Assignment, Review, ReviewRequest

rr = ReviewRequest.objects.get(pk=request_id)
now = timezone.now()
for email, verdict, score in zip(emails, ["approved", "rejected"], [5, 2]):
    assignment = Assignment.objects.create(
        review_request=rr, expert=ExpertProfile.objects.get(user__email=email), rate_cents=12000,
        max_seconds=3600, status="submitted", billed_seconds=600, accepted_at=now,
        submitted_at=now,
    )
    Review.objects.create(assignment=assignment, verdict=verdict, summary="Checked.",
                          scores={"correctness": score}, submitted_at=now)
ReviewRequest.objects.filter(pk=rr.pk).update(status="completed", completed_at=now)
"""


def _fits(page, width: int) -> None:
    width_px = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width_px <= width, width_px


def test_agreement_pages_at_phone_and_desktop_width(live_server_daphne, browser):
    server = live_server_daphne
    on_call = next(e for e in server.seed["experts"] if e["always_available"])
    reviewers = [on_call, next(e for e in server.seed["experts"] if e is not on_call)]
    created = server.api(
        "POST",
        "/api/v1/review-requests",
        {
            "title": "agreement check",
            "specialization": on_call["specializations"][0],
            "content": {"type": "text", "body": "Take 200 mg once a day."},
            "rubric": RUBRIC[:1],
            "reviewers": 2,
            "max_hours": 1,
        },
    )
    emails = [e["email"] for e in reviewers]
    script = f"request_id = {created['id']!r}\nemails = {emails!r}\n" + REVIEW_TWICE
    _manage(_env(server.db_path), "shell", "-c", script)
    SHOTS.mkdir(exist_ok=True)
    member = server.seed["company"]["members"][0]
    errors: list[str] = []
    for width in (390, 1280):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = login(context, server.url, member["email"], member["password"])
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/company/review-settings/")
            page.get_by_role("link", name="Reviewer agreement").click()
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").inner_text() == "Reviewer agreement"
            overall = page.locator("#agreement-all")
            overall.wait_for(state="visible", timeout=WAIT_MS)
            assert "compared" in overall.locator("h2").inner_text()
            assert "Verdict" in overall.locator("[data-agreement=verdict]").inner_text()
            assert overall.locator('[data-agreement="scores.correctness"]').is_visible()
            assert page.locator("#agreement-by-month tbody tr").count() >= 12
            _fits(page, width)
            page.screenshot(path=str(SHOTS / f"agreement-{width}.png"), full_page=True)

            page.get_by_label("From", exact=True).fill("2020-01-01")
            page.get_by_label("To", exact=True).fill("2020-01-31")
            page.get_by_role("button", name="Show", exact=True).click()
            page.wait_for_load_state("networkidle")
            assert "from_day=2020-01-01" in page.url
            assert "No request has two reviews yet" in page.locator(".empty-state").inner_text()
            _fits(page, width)
            context.close()

            context = browser.new_context(viewport={"width": width, "height": 900})
            page = login(context, server.url, on_call["email"], on_call["password"])
            page.goto(f"{server.url}/expert/qualifications/")
            page.wait_for_load_state("networkidle")
            own = page.locator("#expert-agreement")
            assert "Your agreement with co-reviewers" in own.locator("h2").inner_text()
            assert "comparison" in own.locator("[data-expert-agreement]").inner_text()
            assert own.locator("tbody tr").count() >= 1
            _fits(page, width)
            page.screenshot(path=str(SHOTS / f"expert-agreement-{width}.png"), full_page=True)
            assert errors == []
        finally:
            context.close()
