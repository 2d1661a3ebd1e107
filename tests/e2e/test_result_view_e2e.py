"""In a real browser at 390 and 1280 px: the company's result view of a request reviewed by two
experts. The consensus and each review read in one shape; each corrected output shows as a diff
against the AI output and toggles to plain text and back, with no blank line under each line (the
AI output was sent with CRLF line ends, the corrections typed with LF); the AI output is on the
page once; nothing scrolls sideways. Screenshots of the result and of the company's billing page
go to tests/e2e/artifacts/ (docs/screenshots/result.png and billing.png are copies of the 1280 px
ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import _env, _manage
from tests.e2e.test_workspace_e2e import WAIT_MS, login

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parent / "artifacts"
AI_OUTPUT = (
    "def retry(call, attempts=3):\r\n"
    "    for attempt in range(attempts):\r\n"
    "        try:\r\n"
    "            return call()\r\n"
    "        except Exception:\r\n"
    "            time.sleep(2 ** attempt)\r\n"
)
RUBRIC = [
    {"key": "correctness", "label": "Correctness", "scale": 5},
    {"key": "clarity", "label": "Clarity", "scale": 5},
    {"key": "safety", "label": "Failure handling", "scale": 3},
]

# Two experts correct it, the way the
# workspace's submit stores it: review rows and the consensus result. Run by `manage.py shell`
# with `request_id` defined before it.
COMPLETE = r"""
from datetime import timedelta
from django.utils import timezone
from experts.models import ExpertProfile
from review_requests.models import Assignment, Review, ReviewRequest
from review_requests.results import consensus
from review_requests.workspace import _review_dict

rr = ReviewRequest.objects.get(pk=request_id)
at = rr.content["body"].index("except Exception")
experts = list(ExpertProfile.objects.order_by("created_at")[:2])
fixed = (
    "def retry(call, attempts=3, delay=0.5):\n"
    "    for attempt in range(attempts):\n"
    "        try:\n"
    "            return call()\n"
    "        except TimeoutError:\n"
    "            if attempt == attempts - 1:\n"
    "                raise\n"
    "            time.sleep(delay * 2 ** attempt)\n"
)
reviews = [
    dict(verdict="corrected", corrected_output=fixed,
         summary="The helper swallows **every** exception and never re-raises the last one.\n\n"
                 "- Catch only `TimeoutError`.\n- Re-raise after the last attempt.",
         scores={"safety": 1, "clarity": 4, "correctness": 2},
         annotations=[{"start": at, "end": at + 16, "quote": "except Exception", "severity": "major",
                       "comment": "Catches KeyboardInterrupt's siblings and real bugs alike."}]),
    dict(verdict="corrected", corrected_output=fixed.replace("delay=0.5", "delay=1.0"),
         summary="Retries forever on real bugs; the back-off is fine.",
         scores={"safety": 2, "clarity": 5, "correctness": 3},
         annotations=[{"start": 0, "end": 27, "quote": "def retry(call, attempts=3)",
                       "severity": "minor", "comment": "Say what it retries on."}]),
]
rows = []
now = timezone.now()
for number, (expert, fields) in enumerate(zip(experts, reviews)):
    assignment = Assignment.objects.create(
        review_request=rr, expert=expert, rate_cents=12000, max_seconds=3600, status="submitted",
        billed_seconds=900 + 60 * number, accepted_at=now, submitted_at=now,
    )
    rows.append(Review.objects.create(
        assignment=assignment, submitted_at=now + timedelta(seconds=number), **fields
    ))
ReviewRequest.objects.filter(pk=rr.pk).update(
    result=consensus([_review_dict(r) for r in rows]), status="completed", completed_at=now
)
"""


def _check_toggle(page, section: str) -> None:
    root = page.locator(section)
    toggle = root.locator("[data-diff-toggle]")
    toggle.wait_for(state="visible", timeout=WAIT_MS)
    diff, plain = root.locator("[data-diff-view]"), root.locator("[data-corrected]")
    assert diff.is_visible() and not plain.is_visible()
    assert diff.locator("ins.diff-add").count() >= 1 and diff.locator("del.diff-del").count() >= 1
    text = diff.evaluate("(el) => el.textContent")
    assert "\n\n" not in text and "\r" not in text, repr(text)
    root.get_by_role("button", name="Plain text").click()
    assert plain.is_visible() and not diff.is_visible()
    assert root.get_by_role("button", name="Plain text").get_attribute("aria-pressed") == "true"
    lines = plain.evaluate("(el) => el.textContent").split("\n")
    assert "" not in lines[:-1], lines  # no blank line between lines (the last is the final LF)
    # Rendered: the plain text is no taller than one line box per line, wrapped at most twice.
    rows = plain.evaluate(
        "(el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)"
    )
    assert rows < 2 * len(lines) + 2, rows
    root.get_by_role("button", name="Changes").click()
    assert diff.is_visible() and not plain.is_visible()


def test_result_view_diff_toggle_at_phone_and_desktop_width(live_server_daphne, browser):
    server = live_server_daphne
    on_call = next(e for e in server.seed["experts"] if e["always_available"])
    created = server.api(
        "POST",
        "/api/v1/review-requests",
        {
            "title": "async retry helper",
            "specialization": on_call["specializations"][0],
            "content": {"type": "code", "language": "python", "body": AI_OUTPUT},
            "rubric": RUBRIC,
            "reviewers": 2,
            "max_hours": 1,
        },
    )
    _manage(_env(server.db_path), "shell", "-c", f"request_id = {created['id']!r}\n" + COMPLETE)
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
            sections = page.locator("[data-result-section]")
            assert sections.count() == 3
            headings = sections.locator("h3").all_inner_texts()
            assert headings[0] == "Consensus" and all(
                h.startswith("Review by ") for h in headings[1:]
            )
            # The AI output once (its lines are unique to it: the corrections changed them).
            body = page.evaluate("() => document.body.innerText")
            assert body.count("except Exception:") == 1
            assert page.locator("#rr-output-text mark").count() == 2
            assert page.locator("ol.annotations > li").count() == 2
            scores = page.locator("#consensus [data-field=scores]").inner_text()
            assert scores.index("Correctness") < scores.index("Clarity") < scores.index("Failure")
            assert "2.5 / 5" in scores and "4.5 / 5" in scores and "1.5 / 3" in scores
            summary = page.locator("#consensus [data-field=summary]")
            assert "mono" not in summary.evaluate("(el) => getComputedStyle(el).fontFamily")
            _check_toggle(page, "#consensus")
            _check_toggle(page, "[data-result-section] >> nth=1")
            width_px = page.evaluate("() => document.scrollingElement.scrollWidth")
            assert width_px <= width, width_px
            page.locator("#rr-result").screenshot(path=str(SHOTS / f"result-{width}.png"))
            page.screenshot(path=str(SHOTS / f"result-page-{width}.png"), full_page=True)
            page.goto(f"{server.url}/company/billing/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SHOTS / f"billing-{width}.png"), full_page=True)
            assert errors == []
        finally:
            context.close()
