"""The oversight pages in Chromium, at phone width (390 px) and desk width (1280 px): the policy
list with its default marked, a policy page (its rules editor, the figures per week as charts
with their tables, the versions), and the simulator. An owner adds a rule, moves it up, gets the
server's error next to the field it belongs to, fixes it, saves a new version and sees what it
changed; then runs the simulator and reads its result. A plain member reads the rules and has no
editor."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import _serve
from tests.e2e.test_workspace_e2e import WAIT_MS, login

pytestmark = [
    pytest.mark.e2e,
]
WIDTHS = (1280, 390)
POLICY = "support"
RULES = [
    {"name": "confident", "when": {"confidence_gte": 0.9}, "outcome": "sample", "audit_rate": 0.2},
    {"name": "the-rest", "when": {}, "outcome": "review"},
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server of its own with a default policy and 20 items routed through it (half confident)."""
    with _serve(tmp_path_factory.mktemp("e2e-oversight")) as server:
        server.api(
            "POST",
            "/api/v1/oversight-policies",
            {"name": POLICY, "rules": RULES, "is_default": True, "note": "first"},
        )
        body = {
            "title": "Reply to a customer",
            "specialization": "law.contracts",
            "content": {"type": "text", "body": "You may end the lease at any time."},
            "max_hours": 0.5,
        }
        server.api(
            "POST",
            "/api/v1/review-requests/batch",
            {
                "requests": [
                    {**body, "policy": POLICY, "confidence": 0.5 + index * 0.025}
                    for index in range(20)
                ]
            },
        )
        yield server


def _fits(page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(50)
    scroll, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert scroll <= inner, f"{page.url} is {scroll} px wide at {width}"


def _owner(site, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    owner = site.seed["company"]["members"][0]
    page = login(context, site.url, owner["email"], owner["password"])
    page.on("dialog", lambda dialog: dialog.accept())
    return context, page


@pytest.mark.parametrize("width", WIDTHS)
def test_each_oversight_page_fits_and_shows_its_parts(site, browser, artifacts, width):
    context, page = _owner(site, browser, width)
    try:
        page.goto(site.url + "/company/")
        if width < 768:
            page.click("button.nav-toggle")
        page.click("nav[aria-label=Main] a:has-text('Oversight')")
        page.wait_for_url(re.compile(r".*/company/oversight/$"), timeout=WAIT_MS)
        row = page.locator("#policies tbody tr", has_text=POLICY)
        assert "Default" in row.inner_text()
        _fits(page, width)
        page.screenshot(path=str(artifacts / f"oversight-list-{width}.png"), full_page=True)

        row.locator("a").click()
        page.wait_for_url(re.compile(rf".*/company/oversight/{POLICY}/$"), timeout=WAIT_MS)
        assert page.locator("figure.chart svg").count() == 2
        week_rows = page.locator("#figures-by-week tbody tr")
        assert week_rows.count() >= 12
        totals = page.locator("#figures-by-rule tr.total").inner_text()
        assert "20" in totals  # every item seen
        assert page.locator(".rule-row").count() == 2
        _fits(page, width)
        page.screenshot(path=str(artifacts / f"oversight-policy-{width}.png"), full_page=True)

        page.click("a:has-text('Simulate a change')")
        page.wait_for_url(re.compile(r".*/simulate/$"), timeout=WAIT_MS)
        _fits(page, width)
        page.screenshot(path=str(artifacts / f"oversight-simulate-{width}.png"), full_page=True)
    finally:
        context.close()


def test_an_owner_edits_the_rules_and_saves_a_version(site, browser, artifacts):
    context, page = _owner(site, browser, 390)
    try:
        page.goto(site.url + f"/company/oversight/{POLICY}/")
        page.click("button:has-text('Add a rule')")
        page.wait_for_selector("#rule-3", timeout=WAIT_MS)
        page.fill("input[name=rules-2-name]", "cheap-model")
        page.select_option("select[name=rules-2-outcome]", "auto_approve")
        page.fill("input[name=rules-2-model]", "mini")
        page.fill("input[name=rules-2-confidence_gte]", "1.5")  # over 1: the rules refuse it
        page.click("button[aria-label='Move rule 3 up']")
        page.wait_for_selector("#rule-2 legend:has-text('cheap-model')", timeout=WAIT_MS)
        assert page.input_value("input[name=rules-1-confidence_gte]") == "1.5"

        page.click("button:has-text('Save as version 2')")
        error = page.locator("#rule-2 .field--error")
        error.first.wait_for(timeout=WAIT_MS)
        assert "confidence" in error.first.inner_text().lower()
        assert page.input_value("input[name=rules-1-model]") == "mini"  # kept what was typed
        _fits(page, 390)
        page.screenshot(path=str(artifacts / "oversight-rule-error-390.png"), full_page=True)

        page.fill("input[name=rules-1-confidence_gte]", "0.99")
        page.fill("input[name=note]", "let the mini model's sure answers through")
        page.click("button:has-text('Save as version 2')")
        page.wait_for_selector("text=Saved as version 2", timeout=WAIT_MS)
        latest = page.locator("#version-2").inner_text()
        assert "Added rule 2 “cheap-model”" in latest
        assert "let the mini model" in latest
        assert [page.input_value(f"input[name=rules-{index}-name]") for index in range(3)] == [
            "confident",
            "cheap-model",
            "the-rest",
        ]
        _fits(page, 390)
    finally:
        context.close()


def test_the_simulator_shows_what_changed_rules_would_have_done(site, browser, artifacts):
    context, page = _owner(site, browser, 1280)
    try:
        page.goto(site.url + f"/company/oversight/{POLICY}/simulate/")
        # Everything at or above 0.5 sampled: more auto-approved than the stored rules did.
        page.fill("input[name=rules-0-confidence_gte]", "0.5")
        # The form's first button is a hidden twin (so Enter simulates): click the visible one.
        page.get_by_role("button", name="Run the simulation").click()
        result = page.locator("#simulation-result")
        result.wait_for(timeout=WAIT_MS)
        text = result.inner_text()
        assert "20 items" in text
        outcomes = page.locator("#simulation-outcomes").inner_text()
        assert "Sent to review" in outcomes and "Estimated review cost" in outcomes
        for width in WIDTHS:
            _fits(page, width)
            page.screenshot(
                path=str(artifacts / f"oversight-simulated-{width}.png"), full_page=True
            )
    finally:
        context.close()


FORM_POLICY = "form-sure"


@pytest.fixture(scope="module")
def form_policy(site):
    """A second policy, not the default, that auto-approves confident outputs."""
    site.api(
        "POST",
        "/api/v1/oversight-policies",
        {
            "name": FORM_POLICY,
            "rules": [{"name": "sure", "when": {"confidence_gte": 0.9}, "outcome": "auto_approve"}],
        },
    )
    return FORM_POLICY


@pytest.mark.parametrize("width", WIDTHS)
def test_the_new_request_form_goes_through_the_chosen_policy(
    site, form_policy, browser, artifacts, width
):
    context, page = _owner(site, browser, width)
    try:
        page.goto(site.url + "/company/requests/new/")
        policy = page.locator("select[name=policy]")
        assert policy.input_value() == POLICY  # the organization's default, preselected
        page.fill("input[name=title]", f"Lease answer at {width} px")
        page.select_option("select[name=specialization]", "law.contracts")
        page.fill("textarea[name=body]", "You may end the lease at any time.")
        page.fill("input[name=max_hours]", "0.5")
        policy.select_option(form_policy)
        page.fill("input[name=confidence]", "0.95")
        _fits(page, width)
        page.screenshot(path=str(artifacts / f"request-form-policy-{width}.png"), full_page=True)

        page.click("#request-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/company/requests/[0-9a-f-]{36}/$"), timeout=WAIT_MS)
        said = f"Auto-approved by rule “sure” of policy {form_policy} v1: no reviewer, no charge."
        assert page.locator("#rr-oversight").inner_text() == said
        assert said in page.locator(".messages").inner_text()
        assert page.locator("#rr-status").inner_text() == "Auto-approved"
        assert "nothing charged" in page.locator("#rr-assignments").inner_text()
        _fits(page, width)
        page.screenshot(path=str(artifacts / f"request-auto-approved-{width}.png"), full_page=True)
    finally:
        context.close()


def test_a_member_reads_the_rules_without_an_editor(site, browser):
    context = browser.new_context(viewport={"width": 390, "height": 900})
    member = site.seed["company"]["members"][1]
    try:
        page = login(context, site.url, member["email"], member["password"])
        page.goto(site.url + f"/company/oversight/{POLICY}/")
        assert page.locator(".rule-list li").count() >= 2
        assert page.locator(".rule-row").count() == 0
        assert page.locator("button:has-text('Make default')").count() == 0
        _fits(page, 390)
    finally:
        context.close()
