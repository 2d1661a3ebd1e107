"""In a real browser, at phone and desktop width: the company creates a DPO export on the
Datasets page, watches its progress without reloading (the page polls the API), and gets the
SHA-256 and a download link whose file has that hash."""

from __future__ import annotations

import hashlib
import os
import signal

import pytest

from tests.e2e.conftest import _env, _manage
from tests.e2e.test_workspace_e2e import WAIT_MS, login

pytestmark = pytest.mark.e2e

SEED = """
from django.utils import timezone
from experts.models import Specialization
from marketplace.models import Organization
from review_requests.models import ReviewRequest
org = Organization.objects.get(pk="{org}")
for n in range(3):
    ReviewRequest.objects.create(
        organization=org, title=f"Clause {{n}}", specialization=Specialization.objects.get(slug="law.contracts"),
        content_type="text", content={{"type": "text", "body": f"Original {{n}}."}}, prompt=f"Question {{n}}?",
        max_hours=1, status="completed", completed_at=timezone.now(), metadata={{"policy": "e2e-datasets"}},
        result={{"verdict": "corrected", "corrected_output": f"Better {{n}}.", "summary": "", "scores": {{}},
                "annotations": [], "agreement": None,
                "reviews": [{{"assignment_id": f"e2e-{{n}}", "verdict": "corrected", "corrected_output": f"Better {{n}}.",
                             "summary": "", "scores": {{}}, "annotations": []}}]}},
    )
print("seeded")
"""


@pytest.fixture(scope="module")
def reviewed(live_server_daphne):
    out = _manage(
        _env(live_server_daphne.db_path),
        "shell",
        "-c",
        SEED.format(org=live_server_daphne.seed["company"]["id"]),
    )
    assert "seeded" in out
    return live_server_daphne


@pytest.mark.parametrize("width", [390, 1280])
def test_an_export_is_created_followed_and_downloaded(reviewed, browser, artifacts, width):
    server = reviewed
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    try:
        member = server.seed["company"]["members"][0]
        page = login(context, server.url, member["email"], member["password"])
        page.goto(server.url + "/company/datasets/")
        assert page.get_by_label("Format", exact=True).count() == 1
        page.select_option("select[name=format]", "dpo")
        page.select_option("select[name=specialization]", "law")
        page.fill("input[name=policy]", "e2e-datasets")
        worker = server.processes[1]
        # The worker waits until the page is drawn: it shows the export queued, and the
        # page's poll of the API (no reload) shows it completed.
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            page.click("#export-form button[type=submit]")
            page.wait_for_url(server.url + "/company/datasets/", timeout=WAIT_MS)
            item = page.locator("li[data-export]").first
            assert item.get_attribute("data-status") == "queued"
            assert item.locator("[data-field=download]").is_hidden()
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        item.locator("[data-field=download]:not([hidden])").wait_for(timeout=WAIT_MS * 3)
        assert item.get_attribute("data-status") == "completed"
        assert item.locator("[data-field=status]").inner_text() == "Completed"
        sha = item.locator("[data-field=sha256]").inner_text().strip()
        assert len(sha) == 64
        assert item.locator("[data-field=rows]").inner_text() == "3"
        assert "3 of 3" in item.locator("[data-field=progress-text]").inner_text()

        with page.expect_download(timeout=WAIT_MS) as info:
            item.get_by_role("link", name="Download").click()
        path = info.value.path()
        body = open(path, "rb").read()  # noqa: SIM115
        assert hashlib.sha256(body).hexdigest() == sha
        assert body.count(b"\n") == 3 and b'"chosen":"Better 0."' in body

        scroll = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
        assert scroll[0] <= scroll[1], f"sideways scroll at {width}px: {scroll}"
        page.screenshot(path=str(artifacts / f"datasets-{width}.png"), full_page=True)
    finally:
        context.close()
