/*
 * Inloop live workspace (contract/WORKSPACE.md). Plain script, loaded with `defer` after
 * workspace_live.js, which holds the socket (resume with ?after_seq, events by seq), heartbeats,
 * chat, presence, the clock and notices; this file is the output, its annotations and the review.
 * Annotation offsets are Unicode code points into the output text the server sends
 * (review_request.text); the page converts to and from JavaScript's UTF-16 indexes.
 *
 * Everything from the server (AI output, annotations, chat, names) is written with
 * textContent or DOM building, never innerHTML. Code highlighting is computed by highlight.js
 * into an inert DOMParser document and copied token by token as text.
 */
(function () {
  "use strict";

  var SEVERITY_ORDER = { info: 0, minor: 1, major: 2, critical: 3 };
  var VERDICT_LABEL = { approved: "Approve", corrected: "Corrected", rejected: "Reject" };

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    seq: null,           // last seq applied (null before the first snapshot)
    me: null,
    status: null,
    text: "",
    cu: [0],             // code point index -> UTF-16 index
    turns: [],
    content: null,
    rubric: [],
    annotations: {},     // id -> annotation
    draft: {},
    dirty: {},           // draft fields changed here and not yet confirmed by the server
    sent: {},            // field -> value last sent
    messages: {},        // seq -> true (chat lines shown)
    time: { billed: 0, max: 0, running: false, at: Date.now() },
    outbox: [],
    tokens: null,
  };
  var live = window.InloopWorkspace(state, {
    load: loadSnapshot, render: renderSnapshot, resume: resume, event: applyEvent, status: onStatus,
    denied: function () { $("ws-review").disabled = true; },
  });
  var isExpert = live.isExpert, ACTIVE = live.ACTIVE, send = live.send, notice = live.notice;
  var showDialog = live.showDialog;

  // ------------------------------------------------------------------ text and offsets

  function setText(text) {
    state.text = text;
    var cu = [0];
    var i = 0;
    while (i < text.length) {
      var code = text.charCodeAt(i);
      i += code >= 0xd800 && code <= 0xdbff && i + 1 < text.length ? 2 : 1;
      cu.push(i);
    }
    state.cu = cu;
  }
  function cpLength() { return state.cu.length - 1; }
  function cuOf(cp) { return state.cu[Math.max(0, Math.min(cp, cpLength()))]; }
  function cpCount(str) {
    var n = 0;
    for (var i = 0; i < str.length; i++) {
      var code = str.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < str.length) i++;
      n++;
    }
    return n;
  }
  function slice(startCp, endCp) { return state.text.slice(cuOf(startCp), cuOf(endCp)); }

  // Tokens for code: highlight.js output parsed inertly, flattened to (text, class) runs.
  function codeTokens() {
    var lang = state.content && state.content.language;
    if (!window.hljs || !lang || !window.hljs.getLanguage(String(lang))) return null;
    var html;
    try {
      html = window.hljs.highlight(state.text, { language: String(lang), ignoreIllegals: true }).value;
    } catch (e) {
      return null;
    }
    var doc = new DOMParser().parseFromString("<pre>" + html + "</pre>", "text/html");
    var tokens = [];
    var offset = 0;
    (function walk(node, cls) {
      for (var child = node.firstChild; child; child = child.nextSibling) {
        if (child.nodeType === 3) {
          var length = cpCount(child.data);
          if (length) tokens.push({ start: offset, end: offset + length, cls: cls });
          offset += length;
        } else if (child.nodeType === 1) {
          var own = (child.getAttribute("class") || "").split(/\s+/).filter(function (c) {
            return /^hljs-[a-z_-]+$/.test(c);
          }).join(" ");
          walk(child, own || cls);
        }
      }
    })(doc.querySelector("pre"), "");
    return offset === cpLength() ? tokens : null;
  }

  // ------------------------------------------------------------------ output rendering

  var output = $("ws-output");

  function annotationList() {
    return Object.keys(state.annotations).map(function (id) { return state.annotations[id]; })
      .sort(function (a, b) { return a.start - b.start || a.end - b.end; });
  }

  function renderOutput() {
    var type = output.getAttribute("data-type");
    var annotations = annotationList();
    var cuts = {};
    cuts[0] = true;
    cuts[cpLength()] = true;
    annotations.forEach(function (a) { cuts[a.start] = true; cuts[a.end] = true; });
    (state.tokens || []).forEach(function (t) { cuts[t.start] = true; cuts[t.end] = true; });
    var points = Object.keys(cuts).map(Number).sort(function (a, b) { return a - b; });
    var tokenAt = function (cp) {
      var tokens = state.tokens || [];
      for (var i = 0; i < tokens.length; i++) {
        if (tokens[i].start <= cp && cp < tokens[i].end) return tokens[i].cls;
      }
      return "";
    };

    // Pieces between cut points: [start, end) with their annotations and token class.
    var pieces = [];
    for (var i = 0; i + 1 < points.length; i++) {
      var start = points[i], end = points[i + 1];
      var covering = annotations.filter(function (a) { return a.start <= start && a.end >= end; });
      pieces.push({ start: start, end: end, annotations: covering, cls: tokenAt(start) });
    }

    function pieceNode(piece, from, to) {
      var text = slice(from, to);
      var el;
      if (piece.annotations.length) {
        var worst = piece.annotations.reduce(function (w, a) {
          return SEVERITY_ORDER[a.severity] > SEVERITY_ORDER[w.severity] ? a : w;
        });
        el = document.createElement("mark");
        el.className = "sev-" + worst.severity;
        el.setAttribute("data-ann", piece.annotations.map(function (a) { return a.id; }).join(" "));
        el.title = piece.annotations.map(function (a) {
          return a.severity + (a.comment ? ": " + a.comment : "");
        }).join("\n");
      } else {
        el = document.createElement("span");
      }
      if (piece.cls) el.className = (el.className ? el.className + " " : "") + piece.cls;
      el.setAttribute("data-o", String(from));
      el.textContent = text;
      return el;
    }

    // Pieces split at newlines when the layout puts lines or turns in their own boxes.
    function appendRange(parent, from, to) {
      pieces.forEach(function (piece) {
        var a = Math.max(piece.start, from), b = Math.min(piece.end, to);
        if (a < b) parent.appendChild(pieceNode(piece, a, b));
      });
    }

    var root = document.createElement("div");
    if (type === "code") {
      root.className = "ws-code hljs";
      var lineStart = 0;
      var lineNo = 1;
      var lines = state.text.split("\n");
      lines.forEach(function (line) {
        var length = cpCount(line);
        var row = document.createElement("div");
        row.className = "ws-code__line";
        row.setAttribute("data-line", String(lineNo++));
        var src = document.createElement("span");
        src.className = "ws-code__src";
        appendRange(src, lineStart, lineStart + length);
        row.appendChild(src);
        root.appendChild(row);
        lineStart += length + 1;
      });
    } else if (type === "chat" && state.turns.length) {
      state.turns.forEach(function (turn) {
        var box = document.createElement("div");
        box.className = "ws-turn";
        box.setAttribute("data-role", turn.role);
        appendRange(box, turn.start, turn.end);
        root.appendChild(box);
      });
    } else {
      root.className = "ws-text" + (type === "markdown" || type === "text" ? " ws-text--prose" : "");
      appendRange(root, 0, cpLength());
    }
    root.id = "ws-text";
    output.replaceChildren(root);
  }

  // A selection boundary as a code point offset: the first piece at or after the point.
  function pointToOffset(node, offset) {
    return live.pointOffset($("ws-text"), node, offset, cpCount, cpLength());
  }

  function selectionOffsets() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    var range = selection.getRangeAt(0);
    var start = pointToOffset(range.startContainer, range.startOffset);
    var end = pointToOffset(range.endContainer, range.endOffset);
    if (start === null || end === null) return null;
    if (start > end) { var t = start; start = end; end = t; }
    return start < end ? { start: start, end: end } : null;
  }

  // ------------------------------------------------------------------ annotations list

  function renderAnnotations() {
    var list = $("ws-annotations");
    var items = annotationList();
    $("ws-annotation-count").textContent = String(items.length);
    $("ws-annotations-empty").hidden = items.length > 0;
    list.replaceChildren.apply(list, items.map(annotationItem));
  }

  function annotationItem(a) {
    var li = document.createElement("li");
    li.className = "sev-" + a.severity;
    li.id = "ann-" + a.id;
    li.tabIndex = -1;
    var head = document.createElement("div");
    head.className = "cluster cluster--between";
    var parts = live.annotationParts(a);
    head.appendChild(parts.label);
    var where = document.createElement("span");
    where.className = "muted small";
    where.textContent = "characters " + a.start + "–" + a.end;
    head.appendChild(where);
    li.appendChild(head);
    li.appendChild(parts.quote);
    var comment = parts.comment;
    li.appendChild(comment);
    li.addEventListener("click", function (event) {
      if (event.target.closest("button, select, textarea")) return;
      focusAnnotation(a.id);
    });
    if (!isExpert || !ACTIVE[state.status]) return li;

    var tools = document.createElement("div");
    tools.className = "cluster";
    var severity = document.createElement("select");
    severity.setAttribute("aria-label", "Severity of this annotation");
    ["info", "minor", "major", "critical"].forEach(function (s) {
      var option = document.createElement("option");
      option.value = s;
      option.textContent = s;
      option.selected = s === a.severity;
      severity.appendChild(option);
    });
    severity.addEventListener("change", function () {
      send({ type: "annotation.update", id: a.id, severity: severity.value });
    });
    var edit = button("Edit comment", "secondary outline", function () {
      var area = document.createElement("textarea");
      area.rows = 2;
      area.maxLength = 4000;
      area.value = a.comment || "";
      area.setAttribute("aria-label", "Comment");
      var save = button("Save comment", "", function () {
        send({ type: "annotation.update", id: a.id, comment: area.value });
      });
      comment.replaceWith(area);
      edit.replaceWith(save);
      area.focus();
    });
    var remove = button("Delete", "secondary outline", function () {
      send({ type: "annotation.delete", id: a.id });
    });
    tools.appendChild(severity);
    tools.appendChild(edit);
    tools.appendChild(remove);
    li.appendChild(tools);
    return li;
  }

  function button(text, cls, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (cls) b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  var activeAnnotation = null;
  function focusAnnotation(id) {
    activeAnnotation = id;
    document.querySelectorAll("mark.is-active, .annotations > li.is-active").forEach(function (el) {
      el.classList.remove("is-active");
    });
    var marks = Array.prototype.filter.call(document.querySelectorAll("#ws-text mark[data-ann]"), function (m) {
      return m.getAttribute("data-ann").split(" ").indexOf(id) !== -1;
    });
    marks.forEach(function (m) { m.classList.add("is-active"); });
    if (marks[0]) marks[0].scrollIntoView({ block: "center", behavior: "smooth" });
    var item = $("ann-" + id);
    if (item) item.classList.add("is-active");
  }

  output.addEventListener("click", function (event) {
    var mark = event.target.closest("mark[data-ann]");
    if (!mark) return;
    var id = mark.getAttribute("data-ann").split(" ")[0];
    focusAnnotation(id);
    var item = $("ann-" + id);
    if (item) item.focus();
  });

  // ------------------------------------------------------------------ annotate form

  var annotateForm = $("ws-annotate");
  var pendingSelection = null;

  function openAnnotate() {
    if (!isExpert || !ACTIVE[state.status] || !annotateForm) return;
    var offsets = selectionOffsets();
    if (!offsets) {
      notice("Select a passage of the output first, then press a.", "info");
      return;
    }
    pendingSelection = offsets;
    $("ws-annotate-quote").textContent = slice(offsets.start, offsets.end);
    annotateForm.hidden = false;
    $("ws-annotate-comment").focus();
  }

  if (annotateForm) {
    $("ws-annotate-button").addEventListener("mousedown", function (e) { e.preventDefault(); });
    $("ws-annotate-button").addEventListener("click", openAnnotate);
    $("ws-annotate-cancel").addEventListener("click", closeAnnotate);
    annotateForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!pendingSelection) return;
      send({
        type: "annotation.create",
        client_id: live.clientId(),
        start: pendingSelection.start,
        end: pendingSelection.end,
        comment: $("ws-annotate-comment").value,
        severity: $("ws-annotate-severity").value,
      });
      closeAnnotate();
    });
  }
  function closeAnnotate() {
    if (!annotateForm) return;
    annotateForm.hidden = true;
    pendingSelection = null;
    $("ws-annotate-comment").value = "";
  }

  // ------------------------------------------------------------------ draft (review form)

  var verdictButtons = document.querySelectorAll("[data-verdict]");
  var scoreSelects = document.querySelectorAll("[data-score-key]");
  var summary = $("ws-summary");
  var corrected = $("ws-corrected");

  scoreSelects.forEach(function (select) {
    var scale = Number(select.getAttribute("data-scale")) || 5;
    for (var n = 1; n <= scale; n++) {
      var option = document.createElement("option");
      option.value = String(n);
      option.textContent = n + " of " + scale;
      select.appendChild(option);
    }
  });

  function currentScores() {
    var scores = {};
    scoreSelects.forEach(function (select) {
      scores[select.getAttribute("data-score-key")] = select.value ? Number(select.value) : null;
    });
    return scores;
  }

  function localValue(field) {
    if (field === "verdict") return state.draft.verdict || null;
    if (field === "summary") return summary.value;
    if (field === "corrected_output") return corrected.value;
    if (field === "scores") return currentScores();
    return null;
  }

  function showDraft(draft) {
    if (!state.dirty.verdict) {
      verdictButtons.forEach(function (b) {
        b.setAttribute("aria-pressed", String(b.getAttribute("data-verdict") === draft.verdict));
      });
    }
    if (!state.dirty.summary && document.activeElement !== summary) summary.value = draft.summary || "";
    if (!state.dirty.corrected_output && document.activeElement !== corrected) {
      corrected.value = draft.corrected_output || "";
    }
    if (!state.dirty.scores) {
      scoreSelects.forEach(function (select) {
        var value = (draft.scores || {})[select.getAttribute("data-score-key")];
        select.value = value ? String(value) : "";
      });
    }
    scheduleDiff();
  }

  function markDirty(field) {
    if (!isExpert || !ACTIVE[state.status]) return;
    state.dirty[field] = true;
    live.scheduleSave(flushDraft);
  }

  function flushDraft() {
    live.cancelSave();
    var fields = Object.keys(state.dirty);
    if (!fields.length) return true;
    var frame = { type: "draft.update" };
    fields.forEach(function (field) {
      frame[field] = localValue(field);
      state.sent[field] = JSON.stringify(frame[field]);
    });
    return live.sendDraft(frame);
  }

  verdictButtons.forEach(function (b) {
    b.addEventListener("click", function () { setVerdict(b.getAttribute("data-verdict")); });
  });
  function setVerdict(verdict) {
    if (!isExpert || !ACTIVE[state.status]) return;
    state.draft.verdict = verdict;
    verdictButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-verdict") === verdict));
    });
    markDirty("verdict");
  }
  summary.addEventListener("input", function () { markDirty("summary"); });
  corrected.addEventListener("input", function () { markDirty("corrected_output"); scheduleDiff(); });
  scoreSelects.forEach(function (select) {
    select.addEventListener("change", function () { markDirty("scores"); });
  });
  if ($("ws-corrected-start")) {
    $("ws-corrected-start").addEventListener("click", function () {
      if (corrected.value && !window.confirm("Replace the corrected output with the original?")) return;
      corrected.value = state.text;
      markDirty("corrected_output");
      scheduleDiff();
      corrected.focus();
    });
  }

  var diffTimer = null;
  function scheduleDiff() {
    window.clearTimeout(diffTimer);
    diffTimer = window.setTimeout(renderDiff, 250);
  }
  function renderDiff() {
    var box = $("ws-diff");
    var text = corrected.value;
    if (!text) {
      var none = document.createElement("span");
      none.className = "muted";
      none.textContent = "No correction yet.";
      box.replaceChildren(none);
      return;
    }
    if (!window.Diff) {
      box.textContent = text;
      return;
    }
    var parts = window.Diff.diffWords(state.text, text);
    var nodes = parts.map(function (part) {
      var el = document.createElement(part.added ? "ins" : part.removed ? "del" : "span");
      el.textContent = part.value;
      return el;
    });
    box.replaceChildren.apply(box, nodes);
  }

  // ------------------------------------------------------------------ status and snapshot

  function onStatus(status, changed) {
    var editable = isExpert && !!ACTIVE[status];
    $("ws-review").disabled = !editable;
    ["ws-submit", "ws-annotate-button", "ws-corrected-start"].forEach(function (id) {
      if ($(id)) $(id).disabled = !editable;
    });
    if (!editable) closeAnnotate();
    if (changed && state.seq !== null) renderAnnotations();
  }

  function loadSnapshot(snapshot) {
    state.content = snapshot.review_request.content;
    state.turns = snapshot.review_request.turns || [];
    state.rubric = snapshot.review_request.rubric || [];
    if (state.text !== snapshot.review_request.text || !$("ws-text")) {
      setText(snapshot.review_request.text);
      state.tokens = output.getAttribute("data-type") === "code" ? codeTokens() : null;
    }
    state.annotations = {};
    snapshot.annotations.forEach(function (a) { state.annotations[a.id] = a; });
    state.draft = Object.assign({}, snapshot.draft || {}, pickDirty());
  }
  function renderSnapshot() {
    renderOutput();
    renderAnnotations();
    showDraft(state.draft);
  }
  function resume() {
    if (Object.keys(state.dirty).length) flushDraft();
  }

  function pickDirty() {
    var kept = {};
    Object.keys(state.dirty).forEach(function (field) { kept[field] = localValue(field); });
    return kept;
  }

  function applyEvent(e) {
    switch (e.kind) {
      case "annotation.created":
      case "annotation.updated":
        state.annotations[e.annotation.id] = e.annotation;
        renderOutput();
        renderAnnotations();
        if (activeAnnotation) focusAnnotation(activeAnnotation);
        break;
      case "annotation.deleted":
        delete state.annotations[e.id];
        renderOutput();
        renderAnnotations();
        break;
      case "draft.updated":
        var mine = e.actor && state.me && e.actor.id === state.me.id;
        (e.fields || []).forEach(function (field) {
          if (mine && state.dirty[field] && state.sent[field] === JSON.stringify(e.draft[field] === undefined ? null : e.draft[field])
              && JSON.stringify(localValue(field)) === state.sent[field]) {
            delete state.dirty[field];
          }
        });
        state.draft = Object.assign({}, e.draft, pickDirty());
        showDraft(state.draft);
        if (isExpert && !Object.keys(state.dirty).length) {
          $("ws-saved").textContent = "All changes saved";
        }
        break;
      case "submitted":
        state.dirty = {};
        state.draft = Object.assign({}, state.draft, e.review);
        live.setStatus("submitted");
        showDraft(state.draft);
        live.setTime(e.billed_seconds, state.time.max, false);
        $("ws-saved").textContent = "";
        notice("The review was submitted" + (isExpert ? ". Thank you!" : " by the expert."), "sticky");
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ submit

  function openSubmit() {
    if (!isExpert || !ACTIVE[state.status]) return;
    var verdict = state.draft.verdict;
    if (!verdict) {
      notice("Choose a verdict first (1 approve, 2 corrected, 3 reject).", "error");
      return;
    }
    if (verdict === "corrected" && !corrected.value.trim()) {
      notice("A “Corrected” verdict needs the corrected output.", "error");
      corrected.focus();
      return;
    }
    var scores = currentScores();
    var scored = Object.keys(scores).filter(function (k) { return scores[k]; }).map(function (k) {
      return k + " " + scores[k];
    });
    $("ws-confirm-summary").textContent =
      "Verdict: " + VERDICT_LABEL[verdict] + " · " + annotationList().length + " annotation(s)" +
      (scored.length ? " · scores: " + scored.join(", ") : "") +
      " · billed time so far " + live.formatClock(state.time.billed) + ".";
    showDialog($("ws-confirm"));
  }
  live.bindSubmit(openSubmit, flushDraft);
  $("ws-help-button").addEventListener("click", function () { showDialog($("ws-help")); });

  // ------------------------------------------------------------------ keyboard

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (event.key === "Escape") {
      closeAnnotate();
      return;
    }
    if (target.closest("input, textarea, select, [contenteditable]") || document.querySelector("dialog[open]")) return;
    var handled = true;
    switch (event.key) {
      case "?": showDialog($("ws-help")); break;
      case "a": openAnnotate(); break;
      case "1": setVerdict("approved"); break;
      case "2": setVerdict("corrected"); break;
      case "3": setVerdict("rejected"); break;
      case "e": if (!corrected.disabled) corrected.focus(); break;
      case "c": $("ws-chat-body").focus(); break;
      case "s": openSubmit(); break;
      case "j":
      case "k":
        var ids = annotationList().map(function (a) { return a.id; });
        if (!ids.length) break;
        var index = ids.indexOf(activeAnnotation);
        index = event.key === "j" ? (index + 1) % ids.length : (index - 1 + ids.length) % ids.length;
        focusAnnotation(ids[index]);
        break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  live.start();
})();
