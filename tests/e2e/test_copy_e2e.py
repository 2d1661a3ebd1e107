"""In a real browser: the copy button of a one-time secret (static/js/copy.js) on the API key
page puts the new key on the clipboard, by mouse and by keyboard, and says "Copied" in a live
status beside it; where the browser refuses the clipboard, it selects the key and says how to
copy it by hand."""

from __future__ import annotations

import pytest

from tests.e2e.test_csp_e2e import _log_in

pytestmark = pytest.mark.e2e


def _new_key_page(browser, server, *, clipboard: bool):
    context = browser.new_context(viewport={"width": 390, "height": 900})
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    member = server.seed["company"]["members"][0]
    _log_in(page, server.url, member["email"], member["password"])
    page.goto(server.url + "/company/api-keys/")
    page.fill("input[name=name]", "copy-button e2e")
    page.click("main form button:has-text('Create key')")
    page.wait_for_selector("#new-key")
    return context, page


def test_the_copy_button_copies_the_new_key_and_says_so(browser, live_server_daphne):
    context, page = _new_key_page(browser, live_server_daphne, clipboard=True)
    try:
        key = page.input_value("#new-key")
        assert len(key) > 20
        button = page.get_by_role("button", name="Copy key")
        assert button.is_visible()
        status = page.locator("#new-key ~ [data-copy-status]")
        assert status.get_attribute("role") == "status"
        assert status.get_attribute("aria-live") == "polite"
        assert status.inner_text() == ""

        button.click()
        page.wait_for_function(
            "() => document.querySelector('#new-key ~ [data-copy-status]').textContent === 'Copied'"
        )
        assert status.is_visible()
        assert page.evaluate("() => navigator.clipboard.readText()") == key

        # By keyboard: the clipboard emptied, focus on the button, Enter.
        page.evaluate("() => navigator.clipboard.writeText('')")
        page.evaluate("() => { document.querySelector('[data-copy-status]').textContent = ''; }")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("async () => (await navigator.clipboard.readText()).length > 0")
        assert page.evaluate("() => navigator.clipboard.readText()") == key
        assert status.inner_text() == "Copied"
    finally:
        context.close()


def test_a_refused_copy_selects_the_key_and_says_how_to_copy_it(browser, live_server_daphne):
    context, page = _new_key_page(browser, live_server_daphne, clipboard=False)
    try:
        # No clipboard permission, and execCommand refused too: the browser says no.
        page.evaluate(
            """() => {
              navigator.clipboard.writeText = () => Promise.reject(new Error("denied"));
              document.execCommand = () => false;
            }"""
        )
        page.get_by_role("button", name="Copy key").click()
        status = page.locator("#new-key ~ [data-copy-status]")
        page.wait_for_function(
            "() => document.querySelector('#new-key ~ [data-copy-status]').textContent !== ''"
        )
        assert "to copy" in status.inner_text()
        selected = page.evaluate(
            "() => { const el = document.activeElement;"
            " return el.id + ':' + el.value.slice(el.selectionStart, el.selectionEnd); }"
        )
        assert selected == "new-key:" + page.input_value("#new-key")
    finally:
        context.close()
