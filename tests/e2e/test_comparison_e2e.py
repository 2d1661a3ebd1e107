"""In a real browser: an expert reviews a pairwise comparison on a phone (390 px) and a rank
comparison on a desktop (1280 px), by keyboard and by drag; the candidates sit side by side on the
desktop and stack on the phone without sideways scroll; the models stay hidden; the company
reads the result on its request page. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.test_workspace_e2e import WAIT_MS, login

pytestmark = pytest.mark.e2e


def _create(server, mode: str, candidates: list[dict]) -> str:
    specialization = server.seed["experts"][0]["specializations"][0]
    created = server.api(
        "POST",
        "/api/v1/review-requests",
        {
            "title": f"E2E {mode} comparison",
            "specialization": specialization,
            "content": {"type": "comparison", "mode": mode, "candidates": candidates},
            "rubric": [
                {"key": "accuracy", "label": "Accuracy"},
                {"key": "clarity", "label": "Clarity"},
            ],
            "max_hours": 1,
        },
    )
    return created["id"]


def _accept(server, browser, request_id: str, width: int):
    offer_id, email = server.wait_for(
        "SELECT o.id, u.email FROM review_requests_offer o "
        "JOIN experts_expertprofile p ON o.expert_id = p.id "
        "JOIN marketplace_user u ON p.user_id = u.id "
        "WHERE o.review_request_id = ? AND o.status = 'open' ORDER BY o.score DESC",
        (request_id.replace("-", ""),),
    )[0]
    expert = next(e for e in server.seed["experts"] if e["email"] == email)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = login(context, server.url, expert["email"], expert["password"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + "/expert/offers/")
    page.click(f"#offer-{uuid.UUID(offer_id)} button:has-text('Accept offer')")
    page.wait_for_url(re.compile(r".*/workspace/[0-9a-f-]+/$"), timeout=WAIT_MS)
    page.wait_for_selector("body[data-ws-state=connected]", timeout=WAIT_MS)
    page.wait_for_selector("[data-candidate-text] [data-o]", timeout=WAIT_MS)
    return context, page, errors


def _no_sideways_scroll(page) -> None:
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll("body *"))
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
          .slice(0, 5).map((el) => el.tagName + "." + el.className + "#" + el.id)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), wide


def _candidate_boxes(page) -> list[dict]:
    return [
        page.locator(".cmp-candidate").nth(i).bounding_box()
        for i in range(page.locator(".cmp-candidate").count())
    ]


def _submit(page) -> None:
    page.click("#ws-submit")
    page.wait_for_selector("#ws-confirm[open]", timeout=WAIT_MS)
    page.click("#ws-confirm-submit")
    page.wait_for_selector("#ws-status.badge--submitted", timeout=WAIT_MS)


def _chat_and_presence(page) -> None:
    """The shared live parts (workspace_live.js): presence, the clock, a chat line by Ctrl+Enter."""
    page.wait_for_function(
        "() => document.getElementById('ws-presence').textContent.includes('expert')",
        timeout=WAIT_MS,
    )
    assert re.fullmatch(r"\d+:\d\d:\d\d", page.locator("#ws-clock").inner_text())
    page.fill("#ws-chat-body", "Ranking the three now.")
    page.press("#ws-chat-body", "Control+Enter")
    page.wait_for_selector("#ws-chat li:has-text('Ranking the three now.')", timeout=WAIT_MS)
    assert page.input_value("#ws-chat-body") == ""


def _result(server, request_id: str) -> dict:
    server.wait_for(
        "SELECT 1 FROM review_requests_reviewrequest WHERE id = ? AND status = 'completed'",
        (request_id.replace("-", ""),),
    )
    return server.api("GET", f"/api/v1/review-requests/{request_id}")


def test_a_pairwise_comparison_on_a_phone_by_keyboard(live_server_daphne, browser, artifacts):
    server = live_server_daphne
    request_id = _create(
        server,
        "pairwise",
        [
            {
                "id": "short",
                "type": "text",
                "body": "Fracture of the left radius.",
                "model": "secret-model-1",
            },
            {
                "id": "long",
                "type": "markdown",
                "body": "A **small** fracture of the distal left radius.",
                "model": "secret-model-2",
            },
        ],
    )
    context, page, errors = _accept(server, browser, request_id, 390)
    try:
        assert "secret-model" not in page.content()
        _no_sideways_scroll(page)
        first, second = _candidate_boxes(page)
        assert second["y"] >= first["y"] + first["height"] - 1  # stacked at phone width
        label_a = page.locator(".cmp-candidate").nth(0).get_attribute("data-candidate")

        # Accuracy by keyboard: focus the first option, arrow to the fifth ("B much better").
        page.focus("[data-criterion=accuracy] input[type=radio] >> nth=0")
        page.keyboard.press("Space")
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        page.fill("[data-rationale=accuracy]", "B names the exact site.")
        page.check("[data-criterion=clarity] input[value=':0']")  # a tie
        page.fill("#cmp-rewrite", "A small fracture of the distal left radius.")
        # Submitting is refused in the page until every criterion is chosen: all are now.
        page.wait_for_function(
            "() => document.getElementById('ws-saved').textContent === 'All changes saved'",
            timeout=WAIT_MS,
        )
        page.screenshot(path=str(artifacts / "comparison-pairwise-390.png"), full_page=True)
        _submit(page)
        assert errors == []
    finally:
        context.close()

    result = _result(server, request_id)["result"]
    comparison = result["comparison"]
    other = "long" if label_a == "short" else "short"
    assert result["verdict"] == "compared"
    assert comparison["candidates"] == ["short", "long"]
    assert comparison["reviews"][0]["criteria"]["accuracy"] == {
        "winner": other,
        "strength": 2,
        "rationale": "B names the exact site.",
    }
    assert comparison["criteria"]["clarity"]["tie"] is True
    assert comparison["consensus"]["ranking"][0] == other
    assert comparison["reviews"][0]["rewrite"] == "A small fracture of the distal left radius."

    member = server.seed["company"]["members"][0]
    company = browser.new_context(viewport={"width": 390, "height": 900})
    try:
        cp = login(company, server.url, member["email"], member["password"])
        cp.goto(f"{server.url}/company/requests/{request_id}/")
        cp.wait_for_selector("[data-field=consensus]", timeout=WAIT_MS)
        assert cp.locator("[data-field=winner]").inner_text() == other
        assert "secret-model-1" in cp.content()  # the company sees its models
        assert cp.locator("[data-field=criteria] tbody tr").count() == 2
        _no_sideways_scroll(cp)
        cp.screenshot(path=str(artifacts / "comparison-result-390.png"), full_page=True)
    finally:
        company.close()


def test_a_rank_comparison_on_a_desktop_by_buttons_and_drag(live_server_daphne, browser, artifacts):
    server = live_server_daphne
    request_id = _create(
        server,
        "rank",
        [
            {"id": cid, "type": "text", "body": f"Answer {cid}: the radius is fractured."}
            for cid in ("x", "y", "z")
        ],
    )
    context, page, errors = _accept(server, browser, request_id, 1280)
    try:
        _no_sideways_scroll(page)
        boxes = _candidate_boxes(page)
        assert len({round(box["y"]) for box in boxes}) == 1  # side by side on a desktop
        shown = [
            page.locator(".cmp-candidate").nth(i).get_attribute("data-candidate") for i in range(3)
        ]

        # Accuracy by keyboard: the last shown candidate moved to the top with its Up button.
        accuracy = page.locator("[data-rank=accuracy]")
        up = accuracy.locator("li").nth(2).locator("[data-move=up]")
        up.focus()
        page.keyboard.press("Enter")
        accuracy.locator("li").nth(1).locator("[data-move=up]").focus()
        page.keyboard.press("Enter")
        # Clarity by drag: the first item dropped onto the last.
        clarity = page.locator("[data-rank=clarity]")
        clarity.locator("li").nth(0).drag_to(clarity.locator("li").nth(2))
        page.fill("[data-rationale=clarity]", "Dragged.")
        page.wait_for_function(
            "() => document.getElementById('ws-saved').textContent === 'All changes saved'",
            timeout=WAIT_MS,
        )
        page.screenshot(path=str(artifacts / "comparison-rank-1280.png"), full_page=True)
        _chat_and_presence(page)
        _submit(page)
        assert errors == []
    finally:
        context.close()

    comparison = _result(server, request_id)["result"]["comparison"]
    review = comparison["reviews"][0]
    assert review["order_shown"] == shown
    assert review["criteria"]["accuracy"]["ranking"] == [shown[2], shown[0], shown[1]]
    assert review["criteria"]["clarity"]["ranking"] == [shown[1], shown[2], shown[0]]
    assert comparison["criteria"]["accuracy"]["ranking"] == [shown[2], shown[0], shown[1]]
