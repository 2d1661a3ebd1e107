/*
 * Inloop: copy buttons (one-time secrets, ids). Plain script, loaded with `defer` on every page.
 *
 *   <button type="button" data-copy="#new-key" hidden>Copy key</button>
 *   <span class="copy-status" role="status" aria-live="polite" data-copy-status></span>
 *
 * (templates/_partials/copy_button.html writes both.) The button is shown once this script runs
 * (without JavaScript there is nothing to click, and the value stays selectable). It is a real
 * <button>, so Enter and Space work. It copies the value of the input or textarea it names, or
 * the text of any other element, and says so in the status beside it, which screen readers
 * announce: "Copied". Where the browser refuses (no clipboard permission, plain http without
 * execCommand), the text is selected and the status says how to copy it by hand.
 */
(function () {
  "use strict";

  var SHOWN_MS = 4000;

  function textOf(source) {
    var value = "value" in source && source.tagName !== "BUTTON" ? source.value : source.textContent;
    return String(value || "").trim();
  }

  function execCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        if (!execCopy(text)) throw new Error("copy refused");
      });
    }
    return execCopy(text) ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function selectSource(source) {
    if (typeof source.select === "function") {
      source.focus();
      source.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function statusFor(button) {
    var next = button.nextElementSibling;
    if (next && next.hasAttribute("data-copy-status")) return next;
    var status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.setAttribute("data-copy-status", "");
    button.insertAdjacentElement("afterend", status);
    return status;
  }

  function say(status, text, ok) {
    status.textContent = text;
    status.classList.toggle("copy-status--failed", !ok);
    window.clearTimeout(status.copyTimer);
    status.copyTimer = window.setTimeout(function () {
      status.textContent = "";
    }, SHOWN_MS);
  }

  function onClick(event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var status = statusFor(button);
    copyText(textOf(source)).then(
      function () {
        say(status, "Copied", true);
      },
      function () {
        selectSource(source);
        var mac = /Mac|iPhone|iPad/.test(navigator.platform || "");
        say(status, "Selected: press " + (mac ? "⌘C" : "Ctrl+C") + " to copy", false);
      }
    );
  }

  function start() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      statusFor(buttons[i]);
      buttons[i].hidden = false;
    }
    document.addEventListener("click", onClick);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
