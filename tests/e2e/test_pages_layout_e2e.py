"""Every page of every role at phone width (390 px) and desk width (1280 px), in Chromium: nothing
scrolls sideways, every control has a name a screen reader can read, the console shows no error,
and axe-core (vendored under static/vendor/axe-core-*) finds no serious or critical violation.

The pages are tests/e2e/csp_pages.py's list (a route test keeps it complete), without Django's
admin and the third-party Swagger page, plus our own error pages. One browser, one context per
role (logged in once); each page is loaded once and checked at both widths. A full-page
screenshot of each is written under tests/e2e/artifacts/ (gitignored)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.e2e import csp_pages
from tests.e2e import test_csp_e2e as csp
from tests.e2e.conftest import _env, _manage, _serve

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
AXE = next((ROOT / "static" / "vendor").glob("axe-core-*/axe.min.js"))
AXE_URL = "/static/vendor/" + AXE.parent.name + "/axe.min.js"
SHOTS = Path(__file__).resolve().parent / "artifacts"
WIDTHS = (1280, 390)
WAIT_MS = 15_000
LONG_KEY_NAME = "nightly-eval-pipeline-" + "x" * 78  # 100 characters, no space to break at
# Swagger UI (a third party's page) and the offers inbox's fragment (a piece of a page).
SKIP = {"/api/v1/docs", "/expert/offers/list/"}

# Controls a person can reach, with no accessible name: an approximation of the accessible-name
# computation (aria-labelledby, aria-label, <label>, text, alt, title, value, placeholder).
NAMELESS = """
() => {
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") return false;
    return el.getClientRects().length > 0 || el.type === "checkbox" || el.type === "radio";
  };
  const text = (el) => (el.innerText || el.textContent || "").replace(/\\s+/g, " ").trim();
  const name = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const named = by.split(/\\s+/).map((id) => document.getElementById(id))
        .filter(Boolean).map(text).join(" ").trim();
      if (named) return named;
    }
    const aria = (el.getAttribute("aria-label") || "").trim();
    if (aria) return aria;
    if (el.labels && el.labels.length) {
      const labelled = Array.from(el.labels).map(text).join(" ").trim();
      if (labelled) return labelled;
    }
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) {
      return (el.value || "").trim();
    }
    if (el.tagName === "INPUT" && el.type === "image") return (el.alt || "").trim();
    if (!["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName)) {
      const own = text(el);
      if (own) return own;
      const imgs = Array.from(el.querySelectorAll("img[alt], svg[aria-label]"));
      const alts = imgs.map((i) => i.getAttribute("alt") || i.getAttribute("aria-label"))
        .join(" ").trim();
      if (alts) return alts;
    }
    return (el.getAttribute("title") || el.getAttribute("placeholder") || "").trim();
  };
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary, img";
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el)) continue;
    if (el.tagName === "IMG") {
      if (!el.hasAttribute("alt")) out.push("img " + (el.getAttribute("src") || "").slice(0, 60));
      continue;
    }
    if (!name(el)) out.push(el.outerHTML.slice(0, 120));
  }
  return out;
}
"""

# The elements wider than the viewport, deepest first, to say what made a page scroll.
WIDE = """
() => {
  const limit = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && !el.closest(".table-wrap, pre, .scroll-x")) {
      out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "") +
        " right=" + Math.round(box.right));
    }
  }
  return out.slice(-4);
}
"""

AXE_RUN = """
async () => {
  const result = await axe.run(document, {
    resultTypes: ["violations"],
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + " (" + v.impact + "): " +
      v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
}
"""


class Console:
    """Console errors and uncaught exceptions in a browser context."""

    def __init__(self, context):
        self.seen: list[str] = []
        context.on("console", self._console)
        context.on("weberror", lambda error: self.seen.append(f"uncaught: {error.error}"))

    def _console(self, message):
        if message.type != "error":
            return
        own = message.page is not None and message.location.get("url") == message.page.url
        if own and message.text.startswith("Failed to load resource"):
            return  # the page itself answered 4xx, which is its job (e.g. a login error page)
        self.seen.append(message.text)

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server of its own with the pages' objects (tests/e2e/csp_pages.py's setup) and an API
    key whose name is 100 characters long with no space in it."""
    with _serve(tmp_path_factory.mktemp("e2e-layout")) as server:
        env = _env(server.db_path)
        expert = server.seed["experts"][0]["email"]
        org_key = (
            "from marketplace import services; from marketplace.models import Organization; "
            "services.api_key_create_for_seed(organization=Organization.objects.get("
            f"memberships__user__email={server.seed['company']['members'][0]['email']!r}), "
            f"name={LONG_KEY_NAME!r}); "
        )
        out = _manage(
            env,
            "shell",
            "-c",
            org_key + f"from tests.e2e.csp_pages import setup; setup({expert!r})",
        )
        server.values = json.loads(out.strip().splitlines()[-1])["values"]
        yield server


def _check(page, label: str, console: Console, shots: Path) -> list[str]:
    """Problems with the page loaded in `page`, at each width."""
    problems = []
    page.wait_for_timeout(100)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        scroll = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
        if scroll[0] > scroll[1]:
            problems.append(f"{label} @{width}: {scroll[0]} px wide; {page.evaluate(WIDE)}")
        for control in page.evaluate(NAMELESS):
            problems.append(f"{label} @{width}: no accessible name: {control}")
        if not page.evaluate("() => typeof axe !== 'undefined'"):
            page.add_script_tag(url=AXE_URL)
        for violation in page.evaluate(AXE_RUN):
            problems.append(f"{label} @{width}: axe {violation}")
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "home"
        page.screenshot(path=str(shots / f"{slug}-{width}.png"), full_page=True)
    problems.extend(f"{label}: console: {text}" for text in console.take())
    return problems


def _visit(page, site, template: str, console: Console, shots: Path, role: str) -> list[str]:
    url = template.format(**site.values)
    response = page.goto(site.url + url, wait_until="load")
    label = f"{role} {template}"
    if response is None or response.status >= 500:
        return [f"{label}: status {response.status if response else 'none'}"]
    return _check(page, label, console, shots)


def _context(browser, shots: Path):
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    console = Console(context)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    return context, page, console


@pytest.fixture(scope="module")
def shots() -> Path:
    SHOTS.mkdir(exist_ok=True)
    return SHOTS


def test_the_checks_can_fail(site, browser, shots):
    """Each check sees what it is for: a page made too wide, a nameless button, a console error
    and an image without alt text (an axe critical violation) are all reported."""
    context, page, console = _context(browser, shots)
    try:
        page.goto(site.url + "/accounts/login/")
        page.evaluate(
            """() => {
              const wide = document.createElement("div");
              wide.style.width = "2000px"; wide.textContent = "wide";
              document.querySelector("main").appendChild(wide);
              document.querySelector("main").appendChild(document.createElement("button"));
              const img = document.createElement("img");
              img.src = "/static/favicon.svg";
              document.querySelector("main").appendChild(img);
              console.error("boom");
            }"""
        )
        problems = "\n".join(_check(page, "planted", console, shots))
        assert "px wide" in problems
        assert "no accessible name: <button" in problems
        assert "axe image-alt (critical)" in problems
        assert "console: boom" in problems
    finally:
        context.close()


def test_every_anonymous_page_fits_and_reads(site, browser, shots):
    context, page, console = _context(browser, shots)
    try:
        problems = []
        for template in csp_pages.PAGES["anonymous"]:
            if template not in SKIP:
                problems += _visit(page, site, template, console, shots, "anonymous")
        assert problems == [], "\n".join(problems)
    finally:
        context.close()


@pytest.mark.parametrize("role", ["expert", "company"])
def test_every_page_of_an_expert_and_a_company_fits_and_reads(site, browser, shots, role):
    account = site.seed["experts"][0] if role == "expert" else site.seed["company"]["members"][0]
    context, page, console = _context(browser, shots)
    try:
        csp._log_in(page, site.url, account["email"], account["password"])
        problems = [f"login: {text}" for text in console.take()]
        for template in csp_pages.PAGES[role]:
            if template not in SKIP:
                problems += _visit(page, site, template, console, shots, role)
        assert problems == [], "\n".join(problems)
    finally:
        context.close()


def test_every_page_of_an_operator_fits_and_reads(site, browser, shots):
    operator = site.seed["operator"]
    context, page, console = _context(browser, shots)
    try:
        csp._log_in(page, site.url, operator["email"], operator["password"])
        # Straight from the login to the set-up: no "Confirm access" in between.
        page.wait_for_url(re.compile(r".*/accounts/2fa/totp/activate/"), timeout=WAIT_MS)
        problems = _check(page, "operator two-factor set-up", console, shots)
        page.fill("input[name=code]", csp.totp_now(page.input_value("#authenticator_secret")))
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/accounts/2fa/(?!totp/activate).*"), timeout=WAIT_MS)
        problems += _check(page, "operator recovery codes", console, shots)
        page.click("main a:has-text('Continue to the console')")
        page.wait_for_url(re.compile(r".*/console/$"), timeout=WAIT_MS)
        for template in csp_pages.PAGES["operator"]:
            if not template.startswith("/admin/"):
                problems += _visit(page, site, template, console, shots, "operator")
        assert problems == [], "\n".join(problems)
    finally:
        context.close()


def test_the_phone_menu_opens_and_long_values_stay_inside(site, browser, shots):
    """At 390 px the main menu is one "Menu" button (aria-expanded) that opens the links; the
    100-character key name stays inside its row, out of the Revoke button, with its full value
    on hover; the request page shows Cost and "Open a dispute"; a forbidden page is ours."""
    account = site.seed["company"]["members"][0]
    context, page, console = _context(browser, shots)
    try:
        csp._log_in(page, site.url, account["email"], account["password"])
        page.set_viewport_size({"width": 390, "height": 900})
        page.goto(site.url + "/company/api-keys/")
        toggle = page.locator("button.nav-toggle")
        assert toggle.is_visible()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not page.locator("nav[aria-label=Main] a[href='/company/billing/']").is_visible()
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert page.locator("nav[aria-label=Main] a[href='/company/billing/']").is_visible()

        name = page.locator(f"[title='{LONG_KEY_NAME}']").first
        assert name.is_visible()
        box = name.bounding_box()
        assert box["x"] + box["width"] <= 390
        for button in page.locator("form button", has_text="Revoke").all():
            button_box = button.bounding_box()
            assert button_box["width"] < 160, button_box  # the word, not the name beside it
            assert button_box["x"] + button_box["width"] <= 390

        # A reviewed request: its Cost and "Open a dispute" are on screen, not off to the right.
        (done_request,) = site.query(
            "SELECT review_request_id FROM review_requests_assignment WHERE id = ?",
            (uuid.UUID(site.values["done_assignment"]).hex,),
        )[0]
        page.goto(site.url + f"/company/requests/{uuid.UUID(str(done_request))}/")
        assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390
        for visible in (
            page.locator("#rr-assignments td[data-field=cost]").first,
            page.locator("#rr-assignments a", has_text="Open a dispute").first,
        ):
            box = visible.bounding_box()
            assert visible.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.goto(site.url + f"/company/disputes/new/{site.values['done_assignment']}/")
        assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390

        response = page.goto(site.url + "/console/")
        assert response.status == 403
        assert page.locator("nav[aria-label=Main]").count() == 1
        assert page.locator("main h1").inner_text()
        assert console.take() == []
    finally:
        context.close()
