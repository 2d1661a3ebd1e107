"""In a real browser: an expert accepts an offer, annotates, corrects and submits while a company
member watches every step live in a second browser context; XSS payloads in the output, an
annotation and the chat never run. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

XSS = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>'
OUTPUT = (
    "Findings: the scan shows a small fracture of the left radius. "
    "No dislocation. Recommend a cast for six weeks. " + XSS
)
WAIT_MS = 10_000


def login(context, base: str, email: str, password: str):
    page = context.new_page()
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/(expert|company|console)/.*"), timeout=WAIT_MS)
    return page


def watch_for_xss(page, alerts: list):
    def on_dialog(dialog):
        if dialog.type == "confirm":
            dialog.accept()  # our own confirmations (accept the offer)
        else:
            alerts.append(dialog.message)
            dialog.dismiss()

    page.on("dialog", on_dialog)


def select_text(page, needle: str) -> None:
    page.evaluate(
        """(needle) => {
          const root = document.getElementById("ws-text");
          const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
          let node;
          while ((node = walker.nextNode())) {
            const at = node.data.indexOf(needle);
            if (at !== -1) {
              const range = document.createRange();
              range.setStart(node, at);
              range.setEnd(node, at + needle.length);
              const selection = window.getSelection();
              selection.removeAllRanges();
              selection.addRange(range);
              return;
            }
          }
          throw new Error("text not found: " + needle);
        }""",
        needle,
    )


def test_expert_reviews_while_the_company_watches(live_server_daphne, browser, artifacts):
    server = live_server_daphne
    seed = server.seed
    specialization = seed["experts"][0]["specializations"][0]
    created = server.api(
        "POST",
        "/api/v1/review-requests",
        {
            "title": "E2E radiology check",
            "specialization": specialization,
            "content": {"type": "text", "body": OUTPUT},
            "prompt": "Summarize the X-ray. " + XSS,
            "guidelines": "Check **every** finding. " + XSS,
            "rubric": [{"key": "accuracy", "label": "Accuracy", "scale": 5}],
            "max_hours": 1,
        },
    )
    request_id = created["id"].replace("-", "")
    offer_id, expert_email = server.wait_for(
        "SELECT o.id, u.email FROM review_requests_offer o "
        "JOIN experts_expertprofile p ON o.expert_id = p.id "
        "JOIN marketplace_user u ON p.user_id = u.id "
        "WHERE o.review_request_id = ? AND o.status = 'open' ORDER BY o.score DESC",
        (request_id,),
    )[0]
    expert = next(e for e in seed["experts"] if e["email"] == expert_email)
    member = seed["company"]["members"][0]

    alerts: list[str] = []
    errors: list[str] = []  # uncaught script errors (workspace_live.js + workspace.js)
    expert_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    company_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        # The expert accepts the offer from the inbox and lands in the workspace.
        ep = login(expert_context, server.url, expert["email"], expert["password"])
        watch_for_xss(ep, alerts)
        ep.on("pageerror", lambda error: errors.append(str(error)))
        ep.goto(server.url + "/expert/offers/")
        offer_dom_id = "offer-" + str(__import__("uuid").UUID(offer_id))
        ep.click(f"#{offer_dom_id} button:has-text('Accept offer')")
        ep.wait_for_url(re.compile(r".*/workspace/[0-9a-f-]+/$"), timeout=WAIT_MS)
        workspace_url = ep.url
        ep.wait_for_selector("body[data-ws-state=connected]", timeout=WAIT_MS)
        ep.wait_for_selector("#ws-text", timeout=WAIT_MS)

        # The company member watches the same workspace.
        cp = login(company_context, server.url, member["email"], member["password"])
        watch_for_xss(cp, alerts)
        cp.on("pageerror", lambda error: errors.append(str(error)))
        cp.goto(workspace_url)
        cp.wait_for_selector("body[data-ws-state=connected]", timeout=WAIT_MS)
        cp.wait_for_selector("#ws-text", timeout=WAIT_MS)
        assert cp.locator("#ws-summary").is_disabled()  # read-only for the company
        cp.wait_for_function(
            "() => document.getElementById('ws-presence').textContent.includes('expert')",
            timeout=WAIT_MS,
        )
        cp.wait_for_function(
            "() => document.getElementById('ws-status').textContent.trim() === 'In progress'",
            timeout=WAIT_MS,
        )

        # Select text and annotate it (with an XSS payload as the comment).
        select_text(ep, "small fracture")
        ep.keyboard.press("a")
        ep.fill("#ws-annotate-comment", "Which side? " + XSS)
        ep.select_option("#ws-annotate-severity", "critical")
        ep.click("#ws-annotate button[type=submit]")
        cp.wait_for_selector("#ws-text mark.sev-critical", timeout=WAIT_MS)
        assert cp.locator("#ws-text mark.sev-critical").inner_text() == "small fracture"
        assert "Which side?" in cp.locator("#ws-annotations li").first.inner_text()

        # Chat, with a payload too: shown as text on both sides.
        ep.fill("#ws-chat-body", "Looking at it now " + XSS)
        ep.press("#ws-chat-body", "Control+Enter")
        cp.wait_for_selector("#ws-chat li:has-text('Looking at it now')", timeout=WAIT_MS)
        cp.fill("#ws-chat-body", "Thanks, take your time.")
        cp.click("#ws-chat-form button[type=submit]")
        ep.wait_for_selector("#ws-chat li:has-text('take your time')", timeout=WAIT_MS)

        # The shortcuts dialog opens with ? and closes with its button.
        ep.click("h1")
        ep.keyboard.press("?")
        ep.wait_for_selector("#ws-help[open]", timeout=WAIT_MS)
        ep.click("#ws-help [data-close]")
        ep.wait_for_selector("#ws-help:not([open])", state="attached", timeout=WAIT_MS)

        # Verdict by keyboard, then a correction from the original text.
        ep.click("h1")
        ep.keyboard.press("2")
        ep.click("#ws-corrected-start")
        corrected = OUTPUT.replace("small fracture", "hairline fracture")
        ep.fill("#ws-corrected", corrected)
        ep.fill("#ws-summary", "The fracture is hairline, not small.")
        cp.wait_for_selector("#ws-diff ins:has-text('hairline')", timeout=WAIT_MS)
        cp.wait_for_selector("[data-verdict=corrected][aria-pressed=true]", timeout=WAIT_MS)
        ep.wait_for_function(
            "() => document.getElementById('ws-saved').textContent === 'All changes saved'",
            timeout=WAIT_MS,
        )
        ep.screenshot(path=str(artifacts / "workspace-expert.png"), full_page=True)
        cp.screenshot(path=str(artifacts / "workspace-company.png"), full_page=True)

        # Submit with the confirmation summary.
        ep.click("#ws-submit")
        assert "Verdict: Corrected" in ep.locator("#ws-confirm-summary").inner_text()
        ep.click("#ws-confirm-submit")
        cp.wait_for_function(
            "() => document.getElementById('ws-status').textContent.trim() === 'Submitted'",
            timeout=WAIT_MS,
        )
        ep.wait_for_function(
            "() => document.getElementById('ws-status').textContent.trim() === 'Submitted'",
            timeout=WAIT_MS,
        )
        cp.screenshot(path=str(artifacts / "workspace-company-submitted.png"), full_page=True)

        # Nothing injected ran anywhere.
        for page in (ep, cp):
            assert page.evaluate("window.__xss") is None
            assert page.locator("#ws-output img, #ws-chat img, #ws-annotations img").count() == 0
        assert alerts == []
        assert errors == []
    finally:
        expert_context.close()
        company_context.close()

    result = server.api("GET", f"/api/v1/review-requests/{created['id']}")
    assert result["status"] == "completed"
    assert result["result"]["verdict"] == "corrected"
    assert result["result"]["corrected_output"] == corrected
    assert result["result"]["annotations"][0]["quote"] == "small fracture"
    assert result["result"]["annotations"][0]["severity"] == "critical"
