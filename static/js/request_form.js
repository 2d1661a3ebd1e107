/*
 * The new-request form (/company/requests/new/): a live, safe preview of the AI output.
 *
 *  - markdown: rendered by the server (POST preview URL -> HTML sanitized by nh3), the only
 *    HTML ever inserted, and only from our own endpoint;
 *  - code: highlighted by highlight.js (which reads and writes text only);
 *  - JSON: parsed and pretty-printed, or the parse error shown;
 *  - chat: bubbles, one per message ("role: …" lines or a JSON list);
 *  - text: as typed.
 * Everything typed is written with textContent. Also: the guidelines' markdown preview, the
 * viewer's time zone for the deadline, and "Add a criterion" for the rubric.
 */
(function () {
  "use strict";

  var CHAT_LINE = /^(user|assistant|system|tool|human|ai|model)\s*:\s?(.*)$/i;

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(fn, ms);
    };
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function replace(target, node) {
    target.textContent = "";
    target.appendChild(node);
  }

  function parseChat(text) {
    var stripped = text.trim();
    if (stripped.charAt(0) === "[") {
      var value = JSON.parse(stripped);
      if (!Array.isArray(value)) throw new Error("A chat must be a list of messages.");
      return value.map(function (m) {
        return { role: String((m && m.role) || ""), content: String((m && m.content) || "") };
      });
    }
    var turns = [];
    stripped.split(/\r?\n/).forEach(function (line) {
      var match = CHAT_LINE.exec(line);
      if (match) {
        turns.push({ role: match[1].toLowerCase(), content: match[2] });
      } else if (turns.length) {
        turns[turns.length - 1].content += "\n" + line;
      } else if (line.trim()) {
        throw new Error('Start each message with its role, e.g. "user: …".');
      }
    });
    return turns;
  }

  /*
   * The cost estimate: as the company changes the specialization, hours, rate cap or reviewers,
   * ask the server (GET estimate URL) what an accept would hold, the available balance and how
   * many experts fit, and write its sentences (text only).
   */
  function startEstimate(form) {
    var panel = document.getElementById("cost-estimate");
    var target = document.getElementById("estimate-body");
    if (!panel || !target) return;
    var url = panel.getAttribute("data-estimate-url");
    var names = ["specialization", "max_hours", "max_hourly_rate", "reviewers"];
    var latest = 0;
    var update = debounce(function () {
      var params = new URLSearchParams();
      names.forEach(function (name) {
        var field = form.elements.namedItem(name);
        if (field && field.value) params.set(name, field.value);
      });
      if (!params.get("specialization")) return;
      var ticket = ++latest;
      fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (result) {
          if (ticket !== latest) return;  // an older answer arriving late
          target.textContent = "";
          var lines = result.ok ? result.data.sentences : [result.data.error || "No estimate for these values."];
          target.setAttribute("data-state", result.ok ? result.data.state : "none");
          lines.forEach(function (line) { target.appendChild(el("p", null, line)); });
        })
        .catch(function () {
          if (ticket !== latest) return;
          target.setAttribute("data-state", "none");
          replace(target, el("p", "muted", "The estimate could not be loaded; the request can still be sent."));
        });
    }, 300);
    names.forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (!field) return;
      field.addEventListener("input", update);
      field.addEventListener("change", update);
    });
  }

  function start() {
    var form = document.getElementById("request-form");
    if (!form) return;
    startEstimate(form);
    var previewUrl = form.getAttribute("data-preview-url");
    var previewMax = parseInt(form.getAttribute("data-preview-max"), 10) || 200000;
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
    var body = form.elements.namedItem("body");
    var kind = form.elements.namedItem("content_type");
    var language = form.elements.namedItem("language");
    var guidelines = form.elements.namedItem("guidelines");
    var preview = document.getElementById("content-preview");
    var guidelinesPreview = document.getElementById("guidelines-preview");
    var note = document.getElementById("preview-note");

    var zone = form.elements.namedItem("timezone");
    if (zone && !zone.value) {
      try {
        zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
      } catch (e) {
        /* the server reads the deadline in UTC */
      }
    }

    var sequence = 0;
    function renderMarkdown(text, target) {
      if (text.length > previewMax) {
        replace(target, el("p", "muted", "Too long to preview."));
        return;
      }
      var mine = ++sequence;
      var data = new FormData();
      data.append("text", text);
      fetch(previewUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf ? csrf.value : "" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (payload) {
          if (mine !== sequence && target === preview) return; // a newer preview is on its way
          // Sanitized on the server by marketplace.rendering.markdown_to_safe_html (nh3).
          target.innerHTML = payload.html;
        })
        .catch(function () {
          replace(target, el("p", "muted", "Preview unavailable right now."));
        });
    }

    function renderCode(text, lang) {
      var pre = el("pre");
      var code = el("code", "language-" + (lang || "plaintext").toLowerCase().replace(/[^a-z0-9_+-]/g, ""), text);
      pre.appendChild(code);
      replace(preview, pre);
      if (window.hljs) {
        try {
          window.hljs.highlightElement(code);
        } catch (e) {
          /* unknown language: stays plain */
        }
      }
    }

    function renderContent() {
      var text = body.value;
      if (note) note.textContent = "Shown as the reviewer and your team will see it.";
      if (!text.trim()) {
        replace(preview, el("p", "muted", "Type or paste the AI output to see it here."));
        return;
      }
      switch (kind.value) {
        case "markdown":
          renderMarkdown(text, preview);
          break;
        case "code":
          renderCode(text, language && language.value);
          break;
        case "json":
          try {
            renderCode(JSON.stringify(JSON.parse(text), null, 2), "json");
          } catch (e) {
            replace(preview, el("p", "danger-text", "Not valid JSON yet: " + e.message));
          }
          break;
        case "chat":
          try {
            var list = el("ol", "chat");
            list.setAttribute("aria-label", "Conversation");
            parseChat(text).forEach(function (turn) {
              var item = el("li", "chat__msg" + (turn.role === "assistant" ? " chat__msg--mine" : ""));
              item.appendChild(el("span", "chat__meta", turn.role));
              item.appendChild(el("p", "chat__body", turn.content));
              list.appendChild(item);
            });
            replace(preview, list);
          } catch (e) {
            replace(preview, el("p", "danger-text", e.message));
          }
          break;
        default:
          replace(preview, el("pre", "", text));
      }
    }

    var updateContent = debounce(renderContent, 250);
    body.addEventListener("input", updateContent);
    kind.addEventListener("change", renderContent);
    if (language) language.addEventListener("input", updateContent);
    renderContent();

    if (guidelines && guidelinesPreview) {
      var updateGuidelines = debounce(function () {
        if (!guidelines.value.trim()) {
          guidelinesPreview.textContent = "";
          return;
        }
        renderMarkdown(guidelines.value, guidelinesPreview);
      }, 300);
      guidelines.addEventListener("input", updateGuidelines);
      updateGuidelines();
    }

    // Rubric: clone the last row with the next formset index.
    var add = document.getElementById("rubric-add");
    var total = form.elements.namedItem("rubric-TOTAL_FORMS");
    var maxForms = form.elements.namedItem("rubric-MAX_NUM_FORMS");
    var tbody = document.querySelector("#rubric-rows tbody");
    if (add && total && tbody) {
      add.addEventListener("click", function () {
        var count = parseInt(total.value, 10) || 0;
        if (maxForms && count >= parseInt(maxForms.value, 10)) return;
        var last = tbody.lastElementChild;
        if (!last) return;
        var row = last.cloneNode(true);
        var pattern = /rubric-\d+-/g;
        row.querySelectorAll("input, label").forEach(function (node) {
          ["name", "id", "for"].forEach(function (attr) {
            var value = node.getAttribute(attr);
            if (value) node.setAttribute(attr, value.replace(pattern, "rubric-" + count + "-"));
          });
          if (node.tagName === "INPUT") node.value = node.name.endsWith("-scale") ? "5" : "";
          if (node.tagName === "LABEL") node.textContent = node.textContent.replace(/\d+/, String(count + 1));
        });
        row.querySelectorAll(".errorlist").forEach(function (node) {
          node.remove();
        });
        tbody.appendChild(row);
        total.value = String(count + 1);
        var first = row.querySelector("input");
        if (first) first.focus();
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
