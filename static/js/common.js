/*
 * Inloop: behaviour shared by every page. Plain script, loaded with `defer`.
 *
 *  - <form data-confirm="One-line summary"> (or a submit button with
 *    data-confirm) asks confirm() before submitting.
 *  - POST forms disable their submit buttons and set aria-busy="true" once
 *    submitted, so nothing is submitted twice. Opt out with data-no-busy.
 *  - <time datetime="ISO" data-relative> shows "in 12 min" / "3 h ago",
 *    refreshed every 30 s, with the exact local time in its title.
 *  - [data-countdown="ISO"] shows the time remaining as mm:ss (h:mm:ss past
 *    an hour), and fires "inloop:countdown-end" on the element at zero.
 *  - [data-show-when="field=value"] inside a form is shown only while the
 *    form's control `field` has that value (e.g. the company name on signup).
 *    On a form control itself, its .field wrapper is shown or hidden.
 *  - window.Inloop.socket(url, {onMessage, onState, indicator}) opens a
 *    WebSocket that reconnects with exponential backoff (max 30 s).
 *  - <body data-notifications-ws="/ws/notifications/"> connects the live
 *    notifications client (#notif-count badge, #notif-live region).
 *  - The header's button.nav-toggle (aria-expanded, aria-controls) opens and
 *    closes the main menu, which CSS collapses at phone width; Escape closes.
 *  - Copy buttons are static/js/copy.js's.
 *  - A .table-wrap or <pre> that scrolls sideways (a wide table at phone
 *    width) gets tabindex="0", so a keyboard can scroll it too.
 *
 * Server data is only ever written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  var Inloop = (window.Inloop = window.Inloop || {});

  /* ---------------------------------------------------------------- */
  /* Time formatting                                                  */
  /* ---------------------------------------------------------------- */

  var exactFormat = null;
  try {
    exactFormat = new Intl.DateTimeFormat(undefined, {
      weekday: "short",
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
  } catch (e) {
    exactFormat = null;
  }

  var dateFormat = null;
  try {
    dateFormat = new Intl.DateTimeFormat(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
    });
  } catch (e) {
    dateFormat = null;
  }

  function parseDate(value) {
    if (!value) return null;
    var d = new Date(value);
    return isNaN(d.getTime()) ? null : d;
  }

  function formatExact(date) {
    return exactFormat ? exactFormat.format(date) : date.toString();
  }

  /* "in 12 min", "3 h ago", "just now", "in 2 d", or a date past 30 days. */
  function formatRelative(date, now) {
    now = now || new Date();
    var diff = Math.round((date.getTime() - now.getTime()) / 1000); // seconds
    var future = diff > 0;
    var abs = Math.abs(diff);
    var text;
    if (abs < 45) {
      return future ? "in a few seconds" : "just now";
    } else if (abs < 60 * 60) {
      text = Math.max(1, Math.round(abs / 60)) + " min";
    } else if (abs < 24 * 60 * 60) {
      text = Math.round(abs / 3600) + " h";
    } else if (abs < 30 * 24 * 60 * 60) {
      text = Math.round(abs / 86400) + " d";
    } else {
      return dateFormat ? dateFormat.format(date) : date.toDateString();
    }
    return future ? "in " + text : text + " ago";
  }

  Inloop.formatRelative = formatRelative;
  Inloop.formatExact = formatExact;

  function refreshRelativeTimes(root) {
    var now = new Date();
    var nodes = (root || document).querySelectorAll("time[data-relative]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var date = parseDate(el.getAttribute("datetime"));
      if (!date) continue;
      el.textContent = formatRelative(date, now);
      el.title = formatExact(date);
    }
  }
  Inloop.refreshRelativeTimes = refreshRelativeTimes;

  /* ---------------------------------------------------------------- */
  /* Countdowns                                                       */
  /* ---------------------------------------------------------------- */

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function formatRemaining(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return h > 0 ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }
  Inloop.formatRemaining = formatRemaining;

  function refreshCountdowns() {
    var now = Date.now();
    var nodes = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var date = parseDate(el.getAttribute("data-countdown"));
      if (!date) continue;
      var remaining = (date.getTime() - now) / 1000;
      var text = formatRemaining(remaining);
      if (el.textContent !== text) el.textContent = text;
      if (!el.title) el.title = "Until " + formatExact(date);
      if (remaining <= 0 && !el.hasAttribute("data-countdown-ended")) {
        el.setAttribute("data-countdown-ended", "");
        el.dispatchEvent(new CustomEvent("inloop:countdown-end", { bubbles: true }));
      }
    }
  }
  Inloop.refreshCountdowns = refreshCountdowns;

  /* ---------------------------------------------------------------- */
  /* Forms: confirmation and no double submission                     */
  /* ---------------------------------------------------------------- */

  // Capture phase: runs before any page script sees the submit.
  function hasEmptyRequired(form) {
    var controls = form.querySelectorAll("input[required], textarea[required], select[required]");
    for (var i = 0; i < controls.length; i++) {
      var control = controls[i];
      if (control.type === "radio" || control.type === "checkbox" || control.type === "hidden") continue;
      if (!String(control.value || "").trim()) return true;
    }
    return false;
  }

  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement)) return;

      if (form.hasAttribute("data-submitting")) {
        // Already on its way: swallow the second click.
        event.preventDefault();
        event.stopImmediatePropagation();
        return;
      }

      var submitter = event.submitter || null;
      var message =
        (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      // A form with a required field left empty is not confirmed: the server answers with every
      // error next to its field, and nothing happens that would need confirming.
      if (message && hasEmptyRequired(form)) message = null;
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // Bubble phase: only if nobody cancelled the submission.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (event.defaultPrevented) return;
    if (form.hasAttribute("data-no-busy")) return;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (form.target && form.target !== "_self") return;

    form.setAttribute("data-submitting", "");
    form.setAttribute("aria-busy", "true");
    var submitter = event.submitter || null;
    // Disable after the browser has built the form data set, so the
    // clicked button's name/value is still sent.
    window.setTimeout(function () {
      var buttons = form.querySelectorAll(
        'button:not([type]), button[type="submit"], input[type="submit"]'
      );
      var outside = form.id
        ? document.querySelectorAll(
            'button[form="' + CSS.escape(form.id) + '"], input[type="submit"][form="' + CSS.escape(form.id) + '"]'
          )
        : [];
      var all = Array.prototype.slice.call(buttons).concat(Array.prototype.slice.call(outside));
      all.forEach(function (btn) {
        btn.disabled = true;
      });
      var busy = submitter || all[0];
      if (busy) busy.setAttribute("aria-busy", "true");
    }, 0);
  });

  // Coming back with the Back button (bfcache) must not leave forms stuck.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    var forms = document.querySelectorAll("form[data-submitting]");
    for (var i = 0; i < forms.length; i++) {
      resetForm(forms[i]);
    }
  });

  function resetForm(form) {
    form.removeAttribute("data-submitting");
    form.removeAttribute("aria-busy");
    var busy = form.querySelectorAll("[aria-busy]");
    for (var j = 0; j < busy.length; j++) busy[j].removeAttribute("aria-busy");
    var buttons = form.querySelectorAll("button[disabled], input[type=submit][disabled]");
    for (var k = 0; k < buttons.length; k++) {
      if (!buttons[k].hasAttribute("data-keep-disabled")) buttons[k].disabled = false;
    }
  }
  Inloop.resetForm = resetForm;

  /* ---------------------------------------------------------------- */
  /* Conditional fields: [data-show-when="name=value"]                */
  /* ---------------------------------------------------------------- */

  function currentValue(form, name) {
    var controls = form.elements.namedItem(name);
    if (!controls) return { known: false };
    // A RadioNodeList for radios; a single element otherwise.
    if (typeof RadioNodeList !== "undefined" && controls instanceof RadioNodeList) {
      return { known: true, value: controls.value, options: controls };
    }
    if (controls.type === "checkbox") {
      return { known: true, value: controls.checked ? controls.value : "" };
    }
    return { known: true, value: controls.value };
  }

  function applyShowWhen(form) {
    var deps = form.querySelectorAll("[data-show-when]");
    for (var i = 0; i < deps.length; i++) {
      var el = deps[i];
      var rule = el.getAttribute("data-show-when") || "";
      var eq = rule.indexOf("=");
      if (eq < 1) continue;
      var name = rule.slice(0, eq);
      var wanted = rule.slice(eq + 1);
      var state = currentValue(form, name);
      if (!state.known) continue;
      if (state.options) {
        // Do nothing if no option has the wanted value (a renamed choice
        // must never hide a field for good).
        var exists = false;
        for (var k = 0; k < state.options.length; k++) {
          if (state.options[k].value === wanted) exists = true;
        }
        if (!exists) continue;
      }
      // On a form control itself (widget attrs), toggle its .field wrapper.
      var target = el;
      if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) target = el.closest(".field") || el;
      target.hidden = state.value !== wanted;
    }
  }

  function initShowWhen() {
    var deps = document.querySelectorAll("form [data-show-when]");
    for (var i = 0; i < deps.length; i++) {
      var form = deps[i].closest("form");
      if (!form || form.hasAttribute("data-show-when-ready")) continue;
      form.setAttribute("data-show-when-ready", "");
      applyShowWhen(form);
      form.addEventListener("change", applyShowWhen.bind(null, form));
    }
  }

  /* ---------------------------------------------------------------- */
  /* WebSocket with reconnect                                         */
  /* ---------------------------------------------------------------- */

  var STATE_TEXT = { connecting: "Connecting…", connected: "Live", offline: "Offline" };
  // Close codes after which retrying cannot help (not logged in, forbidden,
  // unknown object). Anything else reconnects.
  var FINAL_CLOSE_CODES = [4001, 4003, 4004, 4401, 4403, 4404];

  function wsUrl(url) {
    if (/^wss?:\/\//i.test(url)) return url;
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    if (url.charAt(0) !== "/") url = "/" + url;
    return proto + "//" + window.location.host + url;
  }

  /*
   * Inloop.socket(url, {onMessage(data, event), onState(state), onOpen(),
   *                     indicator: Element|selector, maxDelay: ms})
   * Returns {send(obj|string) -> bool, close(), get state()}.
   * Messages are parsed as JSON when possible (raw string otherwise).
   */
  Inloop.socket = function (url, options) {
    options = options || {};
    var maxDelay = options.maxDelay || 30000;
    var indicator = options.indicator || null;
    if (typeof indicator === "string") indicator = document.querySelector(indicator);

    var ws = null;
    var attempt = 0;
    var timer = null;
    var closedByUs = false;
    var state = null;

    function setState(next) {
      if (state === next) return;
      state = next;
      if (indicator) {
        indicator.setAttribute("data-state", next);
        indicator.textContent = STATE_TEXT[next] || next;
      }
      if (typeof options.onState === "function") {
        try {
          options.onState(next);
        } catch (e) {
          console.error(e);
        }
      }
    }

    function schedule() {
      if (closedByUs || timer) return;
      var base = Math.min(maxDelay, 1000 * Math.pow(2, attempt));
      var delay = Math.round(base * (0.75 + Math.random() * 0.25));
      attempt += 1;
      timer = window.setTimeout(function () {
        timer = null;
        connect();
      }, delay);
    }

    function connect() {
      if (closedByUs) return;
      if (timer) {
        window.clearTimeout(timer);
        timer = null;
      }
      setState("connecting");
      try {
        ws = new WebSocket(wsUrl(url));
      } catch (e) {
        setState("offline");
        schedule();
        return;
      }
      ws.addEventListener("open", function () {
        attempt = 0;
        setState("connected");
        if (typeof options.onOpen === "function") options.onOpen();
      });
      ws.addEventListener("message", function (event) {
        var data = event.data;
        if (typeof data === "string") {
          try {
            data = JSON.parse(data);
          } catch (e) {
            /* keep the raw string */
          }
        }
        if (typeof options.onMessage === "function") {
          try {
            options.onMessage(data, event);
          } catch (e) {
            console.error(e);
          }
        }
      });
      ws.addEventListener("close", function (event) {
        ws = null;
        setState("offline");
        if (closedByUs) return;
        if (FINAL_CLOSE_CODES.indexOf(event.code) !== -1) return;
        schedule();
      });
      // "error" is always followed by "close"; nothing to do here.
    }

    // Come back quickly when the network or the tab returns.
    function retryNow() {
      if (closedByUs || ws) return;
      attempt = 0;
      connect();
    }
    window.addEventListener("online", retryNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") retryNow();
    });

    connect();

    return {
      send: function (payload) {
        if (!ws || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(typeof payload === "string" ? payload : JSON.stringify(payload));
        return true;
      },
      close: function () {
        closedByUs = true;
        if (timer) window.clearTimeout(timer);
        window.removeEventListener("online", retryNow);
        if (ws) ws.close(1000);
        setState("offline");
      },
      get state() {
        return state;
      },
    };
  };

  /* ---------------------------------------------------------------- */
  /* Live notifications                                               */
  /* ---------------------------------------------------------------- */

  var MAX_TOASTS = 4;

  function safeHref(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      var parsed = new URL(url, window.location.href);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
      if (parsed.origin !== window.location.origin) return null;
      return parsed.pathname + parsed.search + parsed.hash;
    } catch (e) {
      return null;
    }
  }

  function setUnread(count) {
    var badge = document.getElementById("notif-count");
    if (!badge) return;
    count = Math.max(0, count | 0);
    badge.textContent = String(count);
    badge.setAttribute("data-count", String(count));
    badge.hidden = count === 0;
    var label = document.getElementById("notif-count-label");
    if (label) label.hidden = count === 0;
  }

  function bumpUnread() {
    var badge = document.getElementById("notif-count");
    if (!badge) return;
    var current = parseInt(badge.getAttribute("data-count") || badge.textContent, 10) || 0;
    setUnread(current + 1);
  }

  function showNotification(n) {
    var region = document.getElementById("notif-live");
    if (!region) return;
    var item = document.createElement("li");
    var text = document.createElement("div");
    text.className = "notif-live__text";

    var title = document.createElement("strong");
    title.className = "notif-live__title";
    title.textContent = String(n.title || "Notification");

    var href = safeHref(n.url);
    if (href) {
      var link = document.createElement("a");
      link.href = href;
      link.appendChild(title);
      text.appendChild(link);
    } else {
      text.appendChild(title);
    }
    if (n.body) {
      var body = document.createElement("span");
      body.textContent = String(n.body);
      text.appendChild(body);
    }

    var close = document.createElement("button");
    close.type = "button";
    close.className = "notif-live__close";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "×";
    close.addEventListener("click", function () {
      item.remove();
    });

    item.appendChild(text);
    item.appendChild(close);
    region.insertBefore(item, region.firstChild);
    while (region.children.length > MAX_TOASTS) {
      region.removeChild(region.lastChild);
    }
    // Fade out of the way after a while; the notifications page keeps them.
    window.setTimeout(function () {
      if (item.parentNode && !item.contains(document.activeElement)) item.remove();
    }, 20000);
  }

  function initNotifications() {
    var url = document.body && document.body.getAttribute("data-notifications-ws");
    if (!url || !("WebSocket" in window)) return;
    Inloop.notifications = Inloop.socket(url, {
      indicator: document.getElementById("notif-conn"),
      onMessage: function (msg) {
        if (!msg || typeof msg !== "object") return;
        if (msg.type === "notification" && msg.notification) {
          bumpUnread();
          showNotification(msg.notification);
          document.dispatchEvent(
            new CustomEvent("inloop:notification", { detail: msg.notification })
          );
        } else if (msg.type === "unread_count" && typeof msg.count === "number") {
          setUnread(msg.count);
        }
      },
    });
  }
  Inloop.setUnread = setUnread;

  /* ---------------------------------------------------------------- */
  /* The main menu's toggle                                           */
  /* ---------------------------------------------------------------- */

  function initNavToggle() {
    var toggle = document.querySelector(".site-header .nav-toggle");
    if (!toggle) return;
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    var nav = toggle.closest("nav");
    if (!menu || !nav) return;
    nav.classList.add("has-toggle");
    toggle.hidden = false;
    function set(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    }
    toggle.addEventListener("click", function () {
      set(toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        set(false);
        toggle.focus();
      }
    });
  }

  function markScrollables() {
    var boxes = document.querySelectorAll(".table-wrap, pre, code.hljs");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
      } else if (!scrolls && box.hasAttribute("data-scroll-focus")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-scroll-focus");
      }
    }
  }
  Inloop.markScrollables = markScrollables;

  /* ---------------------------------------------------------------- */
  /* Start                                                            */
  /* ---------------------------------------------------------------- */

  function start() {
    refreshRelativeTimes();
    refreshCountdowns();
    initShowWhen();
    initNavToggle();
    markScrollables();
    window.addEventListener("resize", markScrollables);
    window.addEventListener("load", markScrollables);
    initNotifications();
    window.setInterval(refreshRelativeTimes, 30000);
    if (document.querySelector("[data-countdown]")) {
      window.setInterval(refreshCountdowns, 1000);
    } else {
      // Pages may add countdowns later (live updates): check now and then.
      var countdownTimer = window.setInterval(function () {
        if (document.querySelector("[data-countdown]")) {
          window.clearInterval(countdownTimer);
          refreshCountdowns();
          window.setInterval(refreshCountdowns, 1000);
        }
      }, 2000);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
