/*
 * The company's live page of one review request (/company/requests/<id>/).
 *
 *  - A read-only WebSocket (/ws/requests/<id>/) says when the request or one of its
 *    assignments changed; the page then re-reads the request as JSON (state.json) and updates
 *    the status, the reviewers' table and the cost. A new result reloads the page, which
 *    renders it on the server.
 *  - While an assignment is in progress its billed-time clock ticks between refreshes (capped at
 *    the maximum), and the page re-reads the server's figure every 20 s: billed time is measured
 *    on the server from the expert's heartbeats, so the server's number always wins.
 *  - Each corrected output is shown as a word diff against the AI output (jsdiff), with a
 *    toggle to its plain text.
 *  - Code and JSON are highlighted by highlight.js, which reads and writes text only.
 *
 * Server data is only ever written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  var STATUS_LABELS = {
    queued: "Queued",
    in_review: "In review",
    completed: "Completed",
    cancelled: "Cancelled",
    expired: "Expired",
    disputed: "Disputed",
    accepted: "Accepted",
    in_progress: "In progress",
    submitted: "Submitted",
    released: "Released",
    resolved: "Resolved",
  };
  var LIVE_STATUSES = ["queued", "in_review"];

  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    function pad(n) {
      return n < 10 ? "0" + n : String(n);
    }
    if (hours) return hours + " h " + pad(minutes) + " min";
    return minutes + " min " + pad(secs) + " s";
  }

  function formatMoney(cents, currency) {
    var amount = (cents || 0) / 100;
    try {
      return new Intl.NumberFormat("en-US", {
        style: "currency",
        currency: (currency || "usd").toUpperCase(),
      }).format(amount);
    } catch (e) {
      return "$" + amount.toFixed(2);
    }
  }

  function setBadge(el, status) {
    if (!el) return;
    el.className = el.className.replace(/badge--[a-z_]+/g, "").trim() + " badge--" + status;
    el.textContent = STATUS_LABELS[status] || status;
  }

  /* ---------------------------------------------------------------- */
  /* Diff of the corrected output                                      */
  /* ---------------------------------------------------------------- */

  // Line ends as the HTML parser gives them, and CRLF / CR normalised anyway: an output sent with
  // CRLF against a correction typed with LF would otherwise differ at every line end, and the
  // removed "\r\n" beside the added "\n" drew a blank line under every line.
  function plainText(node) {
    return node ? node.textContent.replace(/\r\n?/g, "\n") : null;
  }

  function drawDiff(target, original, corrected) {
    var parts = window.Diff.diffWordsWithSpace(original, corrected);
    var fragment = document.createDocumentFragment();
    parts.forEach(function (part) {
      var node;
      if (part.added) {
        node = document.createElement("ins");
        node.className = "diff-add";
      } else if (part.removed) {
        node = document.createElement("del");
        node.className = "diff-del";
      } else {
        node = document.createElement("span");
      }
      node.textContent = part.value;
      fragment.appendChild(node);
    });
    target.textContent = "";
    target.appendChild(fragment);
  }

  function show(section, which) {
    var diff = section.querySelector("[data-diff-view]");
    var plain = section.querySelector("[data-corrected]");
    var legend = section.querySelector("[data-diff-legend]");
    diff.hidden = which !== "diff";
    if (legend) legend.hidden = which !== "diff";
    plain.hidden = which === "diff";
    var buttons = section.querySelectorAll("[data-diff-toggle] button");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", String(buttons[i].getAttribute("data-show") === which));
    }
  }

  // Each result section's corrected output: its word diff against the AI output (shown once, in
  // #rr-output-text), with a toggle to the plain text. Without JavaScript the plain text stays.
  function renderDiffs() {
    // Markdown and chat are shown rendered: the text the reviewers annotated and corrected is
    // then in the element's data-source (text, code and JSON are shown as that text).
    var output = document.getElementById("rr-output-text");
    var original =
      output && output.hasAttribute("data-source")
        ? output.getAttribute("data-source").replace(/\r\n?/g, "\n")
        : plainText(output);
    if (original === null || !window.Diff || typeof window.Diff.diffWordsWithSpace !== "function") return;
    var sections = document.querySelectorAll("[data-result-section]");
    for (var i = 0; i < sections.length; i++) {
      (function (section) {
        var plain = section.querySelector("[data-corrected]");
        var diff = section.querySelector("[data-diff-view]");
        var toggle = section.querySelector("[data-diff-toggle]");
        if (!plain || !diff || !toggle) return;
        drawDiff(diff, original, plainText(plain));
        toggle.hidden = false;
        toggle.addEventListener("click", function (event) {
          var button = event.target.closest("button[data-show]");
          if (button) show(section, button.getAttribute("data-show"));
        });
        show(section, "diff");
      })(sections[i]);
    }
  }

  function highlight() {
    if (!window.hljs) return;
    var blocks = document.querySelectorAll("code[data-highlight]");
    for (var i = 0; i < blocks.length; i++) {
      try {
        window.hljs.highlightElement(blocks[i]);
      } catch (e) {
        /* an unknown language stays plain */
      }
    }
  }

  /* ---------------------------------------------------------------- */
  /* Live state                                                        */
  /* ---------------------------------------------------------------- */

  function start() {
    renderDiffs();
    highlight();

    var root = document.getElementById("request-live");
    if (!root) return;
    var stateUrl = root.getAttribute("data-state-url");
    var status = root.getAttribute("data-status");
    var knownAssignments = {};
    var rows = root.querySelectorAll("tr[data-assignment-id]");
    for (var i = 0; i < rows.length; i++) knownAssignments[rows[i].getAttribute("data-assignment-id")] = true;

    // Clocks: [{el, seconds, max, running, syncedAt}]
    var clocks = {};
    function clockFor(row) {
      var id = row.getAttribute("data-assignment-id");
      if (!clocks[id]) {
        var el = row.querySelector("[data-field=billed]");
        var statusEl = row.querySelector("[data-field=status]");
        clocks[id] = {
          el: el,
          seconds: parseInt(el.getAttribute("data-seconds"), 10) || 0,
          max: parseInt(el.getAttribute("data-max"), 10) || 0,
          running: statusEl && /badge--in_progress/.test(statusEl.className),
          syncedAt: Date.now(),
        };
      }
      return clocks[id];
    }
    for (var j = 0; j < rows.length; j++) clockFor(rows[j]);

    function tick() {
      Object.keys(clocks).forEach(function (id) {
        var clock = clocks[id];
        var shown = clock.seconds;
        if (clock.running) shown += (Date.now() - clock.syncedAt) / 1000;
        if (clock.max) shown = Math.min(shown, clock.max);
        var text = formatDuration(shown);
        if (clock.el.textContent !== text) clock.el.textContent = text;
      });
    }

    var refreshing = false;
    function refresh() {
      if (refreshing || !stateUrl) return;
      refreshing = true;
      fetch(stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(apply)
        .catch(function () {
          /* the next push or poll tries again */
        })
        .then(function () {
          refreshing = false;
        });
    }

    function apply(data) {
      if (!data || typeof data !== "object") return;
      var resultArrived = data.result && !document.getElementById("rr-result");
      var newAssignment = (data.assignments || []).some(function (a) {
        return !knownAssignments[a.id];
      });
      if (resultArrived || newAssignment) {
        // The server renders results and new reviewers (links, names) itself.
        window.location.reload();
        return;
      }
      if (data.status && data.status !== status) {
        status = data.status;
        root.setAttribute("data-status", status);
        setBadge(document.getElementById("rr-status"), status);
      }
      // Matching found the balance short (or funds arrived): said at once, as the server would.
      var waiting = document.getElementById("rr-waiting");
      if (waiting) waiting.hidden = !(data.waiting_for_funds && data.status === "queued");
      var empty = document.querySelector("#rr-no-assignments td");
      if (empty && data.waiting_for_funds && data.status === "queued") {
        empty.textContent = "Waiting for funds: add credit and offers go out at once.";
      }
      var cost = document.getElementById("rr-cost");
      if (cost) cost.textContent = formatMoney(data.cost_cents, data.currency);
      (data.assignments || []).forEach(function (a) {
        var row = root.querySelector('tr[data-assignment-id="' + CSS.escape(String(a.id)) + '"]');
        if (!row) return;
        setBadge(row.querySelector("[data-field=status]"), a.status);
        var costCell = row.querySelector("[data-field=cost]");
        if (costCell) costCell.textContent = formatMoney(a.cost_cents, data.currency);
        var clock = clockFor(row);
        clock.seconds = a.billed_seconds || 0;
        clock.max = a.max_seconds || clock.max;
        clock.running = a.status === "in_progress";
        clock.syncedAt = Date.now();
      });
      tick();
    }

    if (window.Inloop && typeof window.Inloop.socket === "function" && "WebSocket" in window) {
      window.Inloop.socket(root.getAttribute("data-ws"), {
        indicator: document.getElementById("rr-conn"),
        onOpen: refresh,
        onMessage: function (msg) {
          if (msg && typeof msg === "object" && msg.type === "request.status") refresh();
        },
      });
    }
    window.setInterval(tick, 1000);
    window.setInterval(function () {
      if (LIVE_STATUSES.indexOf(status) !== -1 && document.visibilityState === "visible") refresh();
    }, 20000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
