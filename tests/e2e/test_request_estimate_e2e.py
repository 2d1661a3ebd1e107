"""In a real browser, on the new-request form: the cost estimate follows what the company types
(specialization, hours, reviewers), and submitting a form with its required fields empty shows
every error next to its field without a confirmation dialog first."""

from __future__ import annotations

import pytest

from tests.e2e.test_workspace_e2e import WAIT_MS, login

pytestmark = pytest.mark.e2e


def test_the_estimate_follows_the_form_and_an_empty_form_is_not_confirmed(
    live_server_daphne, browser, artifacts
):
    server = live_server_daphne
    on_call = next(e for e in server.seed["experts"] if e["always_available"])
    specialization = on_call["specializations"][0]
    context = browser.new_context(viewport={"width": 390, "height": 900})
    dialogs: list[str] = []
    try:
        member = server.seed["company"]["members"][0]
        page = login(context, server.url, member["email"], member["password"])
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(server.url + "/company/requests/new/")
        estimate = page.locator("#estimate-body")
        assert "Choose a specialization" in estimate.inner_text()

        page.select_option("select[name=specialization]", specialization)
        page.wait_for_function(
            "() => /Your available balance is/.test("
            "document.getElementById('estimate-body').textContent)",
            timeout=WAIT_MS,
        )
        first = estimate.inner_text()
        assert "An accept places a hold of" in first and "Your available balance is" in first

        page.fill("input[name=max_hours]", "4")
        page.fill("input[name=reviewers]", "2")
        page.wait_for_function(
            "(before) => { const t = document.getElementById('estimate-body').textContent;"
            " return t !== before && t.includes('2 reviewers'); }",
            arg=first.replace("\n", ""),
            timeout=WAIT_MS,
        )
        assert "up to 4 h" in estimate.inner_text()
        page.screenshot(path=str(artifacts / "request-form-estimate-390.png"), full_page=True)

        # Required fields (title, body) empty: no confirmation, the server's errors at once.
        page.click("#request-form button[type=submit]")
        page.wait_for_selector(".field--error", timeout=WAIT_MS)
        assert dialogs == []
        assert page.locator(".field--error").count() >= 2
        # The estimate is shown again with the re-shown form.
        assert "fit" in page.locator("#estimate-body").inner_text()
    finally:
        context.close()
