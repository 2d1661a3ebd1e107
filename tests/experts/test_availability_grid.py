"""The weekly availability grid in a real browser (static/js/availability.js).

The page is rendered by Django's test client and handed to Chromium through Playwright's request
routing (no server, no port): the grid must write the same text fields the form posts without
JavaScript, by keyboard and by mouse, and the posted form must save through the normal view.
Database work happens before the browser starts and after it closes (Playwright's sync API runs
an event loop, inside which Django refuses database calls)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest

from experts.models import AvailabilityWindow
from tests.conftest import login_client
from tests.factories import AvailabilityWindowFactory, ExpertProfileFactory

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://inloop.test"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Chromium at {CHROMIUM}"),
]


def _static(path: str) -> tuple[bytes, str] | None:
    base = (ROOT / "static").resolve()
    file = (base / path.removeprefix("/static/")).resolve()
    if not file.is_file() or base not in file.parents:
        return None
    return file.read_bytes(), "text/css" if file.suffix == ".css" else "application/javascript"


def _drive(html: str, steps) -> tuple[dict, str]:
    """Open the rendered page, run `steps(page)`, submit the availability form; returns what
    the browser posted and what `steps` returned."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    posted: dict = {}

    def route(route):
        request = route.request
        path = urlparse(request.url).path
        if request.method == "POST":
            posted.update(parse_qsl(request.post_data or "", keep_blank_values=True))
            posted["__path"] = path
            return route.fulfill(status=200, content_type="text/html", body="<p>saved</p>")
        if path == "/expert/profile/":
            return route.fulfill(status=200, content_type="text/html", body=html)
        found = _static(path) if path.startswith("/static/") else None
        if found is None:
            return route.abort()
        return route.fulfill(status=200, content_type=found[1], body=found[0])

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route(f"{ORIGIN}/**", route)
            page.goto(f"{ORIGIN}/expert/profile/")
            page.wait_for_selector(".avail-grid")
            result = steps(page)
            page.get_by_role("button", name="Save availability").click()
            page.wait_for_selector("text=saved")
            assert errors == []
        finally:
            browser.close()
    return posted, result


def _cell(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def _pressed(page, name: str) -> str:
    return _cell(page, name).get_attribute("aria-pressed")


def test_the_grid_edits_the_text_fields_by_keyboard_and_mouse_and_saves(expert):
    profile = ExpertProfileFactory(user=expert, display_name="Erin", timezone="Europe/Berlin")
    AvailabilityWindowFactory(expert=profile, weekday=0, start_minute=540, end_minute=750)
    client = login_client(expert)
    html = client.get("/expert/profile/").content.decode()

    def steps(page):
        seen = {}
        # What the server sent is drawn: Monday 09:00-12:30 in the expert's time zone.
        seen["caption"] = page.locator(".avail-grid caption").text_content()
        seen["monday"] = [
            _pressed(page, f"Monday {h} to {n}")
            for h, n in [("08:00", "09:00"), ("09:00", "10:00"), ("12:00", "13:00")]
        ]
        seen["text_hidden"] = not page.locator('[name="day_0"]').is_visible()
        seen["tab_stops"] = page.locator('.avail-cell[tabindex="0"]').count()

        # Keyboard: Space switches an hour, Shift+arrow carries the choice on, Enter too.
        _cell(page, "Tuesday 10:00 to 11:00").focus()
        page.keyboard.press("Space")
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        seen["focused"] = page.evaluate("document.activeElement.getAttribute('aria-label')")
        seen["tab_stops_after"] = page.locator('.avail-cell[tabindex="0"]').count()
        seen["live"] = page.locator("#avail-live").text_content()

        # Mouse: press on Friday 14:00 and drag to 16:00; a click on a part hour fills it.
        start = _cell(page, "Friday 14:00 to 15:00").bounding_box()
        end = _cell(page, "Friday 16:00 to 17:00").bounding_box()
        page.mouse.move(start["x"] + 5, start["y"] + 5)
        page.mouse.down()
        page.mouse.move(end["x"] + 5, end["y"] + 5, steps=8)
        page.mouse.up()
        _cell(page, "Monday 12:00 to 13:00").click()

        # Typing exact minutes redraws the grid.
        page.locator("details.avail-text > summary").click()
        page.locator('[name="day_6"]').fill("08:00-09:30")
        seen["sunday"] = [
            _pressed(page, "Sunday 08:00 to 09:00"),
            _pressed(page, "Sunday 09:00 to 10:00"),
        ]
        return seen

    posted, seen = _drive(html, steps)
    assert "Europe/Berlin" in seen["caption"]
    assert seen["monday"] == ["false", "true", "mixed"]
    assert seen["text_hidden"] is True
    assert seen["tab_stops"] == 1 and seen["tab_stops_after"] == 1
    assert seen["focused"] == "Wednesday 11:00 to 12:00"
    assert seen["live"] == "Wednesday: 11:00-12:00"
    assert seen["sunday"] == ["true", "mixed"]
    assert posted["__path"] == "/expert/profile/"
    assert posted["section"] == "availability"
    assert {k: v for k, v in posted.items() if k.startswith("day_")} == {
        "day_0": "09:00-13:00",
        "day_1": "10:00-12:00",
        "day_2": "11:00-12:00",
        "day_3": "",
        "day_4": "14:00-17:00",
        "day_5": "",
        "day_6": "08:00-09:30",
    }

    # What the browser posted saves through the ordinary view.
    form = {k: v for k, v in posted.items() if not k.startswith("__")}
    assert client.post("/expert/profile/", form).status_code == 302
    assert list(
        AvailabilityWindow.objects.filter(expert=profile).values_list(
            "weekday", "start_minute", "end_minute"
        )
    ) == [
        (0, 540, 780),
        (1, 600, 720),
        (2, 660, 720),
        (4, 840, 1020),
        (6, 480, 570),
    ]


def test_without_javascript_the_text_fields_are_the_form(expert):
    ExpertProfileFactory(user=expert, display_name="Erin")
    html = login_client(expert).get("/expert/profile/").content.decode()
    assert "data-availability" in html
    for day in range(7):
        assert f'name="day_{day}"' in html
        assert f'<label for="id_day_{day}">' in html
    assert "js/availability.js" in html
