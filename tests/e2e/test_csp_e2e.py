"""The Content-Security-Policy in a real browser: every page of every role (the seeded expert,
company owner and operator; tests/e2e/csp_pages.py lists them) loads without one violation,
reported either as a `securitypolicyviolation` event or as a console error, and the pages whose
scripts matter still work (the workspace's socket, the availability grid, charts, the highlighted
webhook snippet, the API docs, Stripe.js on the card payment page)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import time

import pytest

from tests.e2e import csp_pages
from tests.e2e import test_funding_e2e as funding
from tests.e2e.conftest import _env, _manage, _serve

pytestmark = pytest.mark.e2e
stripe_page = funding.stripe_page  # the card page with the Stripe.js test double (a fixture)
WAIT_MS = 15_000

RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__inloopCspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    url: document.location.href,
  });
});
"""


class Violations:
    """Every CSP violation in a browser context: events from every frame, and console errors."""

    def __init__(self, context):
        self.seen: list[dict] = []
        context.expose_binding(
            "__inloopCspViolation", lambda source, report: self.seen.append(report)
        )
        context.add_init_script(RECORD_VIOLATIONS)
        context.on("console", self._console)

    def _console(self, message):
        if message.type == "error" and "Content Security Policy" in message.text:
            self.seen.append(
                {"console": message.text, "url": message.page.url if message.page else ""}
            )

    def take(self) -> list[dict]:
        seen, self.seen = self.seen, []
        return seen


def totp_now(secret: str) -> str:
    """RFC 6238 as an authenticator app computes it (SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server of its own (the pages' objects must not change what other e2e tests see), with
    the objects the pages show."""
    with _serve(tmp_path_factory.mktemp("e2e-csp")) as server:
        expert = server.seed["experts"][0]["email"]
        out = _manage(
            _env(server.db_path),
            "shell",
            "-c",
            f"from tests.e2e.csp_pages import setup; setup({expert!r})",
        )
        made = json.loads(out.strip().splitlines()[-1])
        server.values = made["values"]
        server.admin_pages = made["admin_pages"]
        yield server


def _log_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(
        re.compile(r".*/(expert|company|console|accounts/2fa|accounts/reauthenticate)/.*"),
        timeout=WAIT_MS,
    )


def _visit(page, base: str, template: str, values: dict, violations: Violations) -> list[str]:
    """Problems with one page: its status, its violations, whether its script did its work."""
    url = template.format(**values)
    response = page.goto(base + url, wait_until="load")
    problems = []
    if response is None or response.status >= 500:
        problems.append(f"{url}: status {response.status if response else 'none'}")
    elif "script-src 'self'" not in (response.headers.get("content-security-policy") or ""):
        problems.append(f"{url}: no Content-Security-Policy with script-src 'self'")
    selector = csp_pages.WORKING.get(template)
    if selector:
        try:
            page.wait_for_selector(selector, state="attached", timeout=WAIT_MS)
        except Exception:
            problems.append(f"{url}: {selector} never appeared (its script did not work)")
    page.wait_for_timeout(150)  # late reports (deferred scripts, sockets)
    problems.extend(f"{url}: {report}" for report in violations.take())
    return problems


def _role_context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    violations = Violations(context)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    return context, page, violations


def test_the_recorder_sees_a_violation(site, browser):
    """The check can fail: an inline script added to a page is blocked and reported."""
    context, page, violations = _role_context(browser)
    try:
        page.goto(site.url + "/")
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.__ran = 1'; document.body.appendChild(s); }"
        )
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.__ran") is None
        seen = violations.take()
        assert any(report.get("directive") == "script-src-elem" for report in seen), seen
    finally:
        context.close()


def test_every_anonymous_page_loads_without_a_violation(site, browser):
    context, page, violations = _role_context(browser)
    try:
        problems = []
        for template in csp_pages.PAGES["anonymous"]:
            problems += _visit(page, site.url, template, site.values, violations)
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize("role", ["expert", "company"])
def test_every_page_of_an_expert_and_a_company_owner_loads_without_a_violation(site, browser, role):
    account = site.seed["experts"][0] if role == "expert" else site.seed["company"]["members"][0]
    context, page, violations = _role_context(browser)
    try:
        _log_in(page, site.url, account["email"], account["password"])
        problems = [f"login: {report}" for report in violations.take()]
        for template in csp_pages.PAGES[role]:
            problems += _visit(page, site.url, template, site.values, violations)
        assert problems == []
    finally:
        context.close()


def test_every_page_of_an_operator_loads_without_a_violation(site, browser):
    operator = site.seed["operator"]
    context, page, violations = _role_context(browser)
    try:
        _log_in(page, site.url, operator["email"], operator["password"])
        # Sent to set up two-factor first, straight from the login (a fresh login is recent
        # enough, no "Confirm access"); the set-up page shows its QR code as a data: image.
        assert "/accounts/reauthenticate/" not in page.url
        page.wait_for_url(re.compile(r".*/accounts/2fa/totp/activate/"), timeout=WAIT_MS)
        qr_width = page.evaluate("() => document.querySelector('main img').naturalWidth")
        assert qr_width > 0, "the QR code did not load"
        page.fill("input[name=code]", totp_now(page.input_value("#authenticator_secret")))
        page.click("main form button[type=submit]")  # not the header's "Log out"
        page.wait_for_url(re.compile(r".*/accounts/2fa/(?!totp/activate).*"), timeout=WAIT_MS)
        problems = [f"two-factor set-up: {report}" for report in violations.take()]
        for template in csp_pages.PAGES["operator"] + site.admin_pages:
            problems += _visit(page, site.url, template, site.values, violations)
        assert problems == []
    finally:
        context.close()


def test_the_card_payment_page_runs_stripe_js_without_a_violation(live_server_stripe, stripe_page):
    """Stripe.js (its test double, served at Stripe's own address) loads, mounts and confirms
    against api.stripe.com: what the funding page's policy allows, and only that page's."""
    page, confirms = stripe_page
    violations = Violations(page.context)
    funding.start_top_up(page, live_server_stripe, "25.00")
    policy = page.evaluate(
        "() => fetch(location.href).then(r => r.headers.get('content-security-policy'))"
    )
    assert "https://js.stripe.com" in policy and "https://api.stripe.com" in policy
    page.wait_for_selector("#payment-form[data-stripe-state=ready]", timeout=WAIT_MS)
    page.click("#pay-button")
    page.wait_for_url(re.compile(r".*redirect_status=succeeded.*"), timeout=WAIT_MS)
    page.wait_for_selector("text=was added to your available balance", timeout=WAIT_MS)
    assert len(confirms) == 1
    assert violations.take() == []


LIFT_OPERATOR = """
import json
from marketplace.services import operator_create, operator_credentials_reset
user = operator_create(email="lift.operator@inloop.test", password="not-used-1234")
password, secret = operator_credentials_reset(user=user)
print(json.dumps({"email": user.email, "password": password, "secret": secret}))
"""


def test_an_operator_lifts_a_pause_after_confirming_it(site, browser):
    """The console's lift form (csp_pages.setup paused the expert in radiology): the browser asks
    first (common.js's data-confirm), a cancel sends nothing, an accept posts and lands back on
    the console with the message; a reload then asks for the page again, never the POST."""
    out = _manage(_env(site.db_path), "shell", "-c", LIFT_OPERATOR)
    operator = json.loads(out.strip().splitlines()[-1])
    context = browser.new_context(viewport={"width": 390, "height": 900})
    violations = Violations(context)
    page = context.new_page()
    try:
        _log_in(page, site.url, operator["email"], operator["password"])
        page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"), timeout=WAIT_MS)
        page.fill("input[name=code]", totp_now(operator["secret"]))
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/(console|dashboard)/.*"), timeout=WAIT_MS)
        page.goto(site.url + "/console/golden/")
        form = page.locator("form[action$='/lift/']").first
        form.get_by_label("Why lift the pause").fill("Two radiology items had a wrong key.")
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        form.get_by_role("button", name=re.compile("Lift the pause")).click()
        page.wait_for_timeout(300)
        assert asked and asked[0].startswith("Lift the pause of"), asked
        assert page.locator("form[action$='/lift/']").count() >= 1  # nothing was sent
        page.once("dialog", lambda dialog: dialog.accept())
        form.get_by_role("button", name=re.compile("Lift the pause")).click()
        page.wait_for_selector("text=Pause lifted: offers in Radiology", timeout=WAIT_MS)
        assert page.url.endswith("/console/golden/")
        page.reload()
        page.wait_for_selector("text=No expert is paused.", timeout=WAIT_MS)
        assert violations.take() == []
    finally:
        context.close()
