/*
 * Inloop live workspace of a comparison request (contract/WORKSPACE.md and
 * docs/contract/workspace-comparison.md). Plain script, loaded with `defer` after
 * workspace_live.js, which holds what it shares with workspace.js (the socket: snapshot, events
 * by seq, resume with ?after_seq; heartbeats, chat, presence, the clock, notices); the draft is `draft.update` with `comparison`
 * ({"criteria": {key: choice}, "rewrite"}) sent whole, and `summary`. Annotations name the
 * candidate they are on; their offsets are code points into that candidate's text.
 *
 * Everything from the server is written with textContent or DOM building, never innerHTML.
 */
(function () {
  "use strict";

  var SEVERITY_ORDER = { info: 0, minor: 1, major: 2, critical: 3 };

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    seq: null, me: null, status: null, mode: null,
    candidates: [], labels: {}, criteria: [],
    annotations: {}, comparison: { criteria: {}, rewrite: null }, summary: "",
    dirty: false, sentJson: null, messages: {},
    time: { billed: 0, max: 0, running: false, at: Date.now() }, outbox: [],
  };
  var live = window.InloopWorkspace(state, {
    load: loadSnapshot, render: renderSnapshot, resume: resume, event: applyEvent, status: onStatus,
    error: onError,
  });
  var isExpert = live.isExpert, editable = live.editable, send = live.send, notice = live.notice;

  // ------------------------------------------------------------------ candidates and annotations

  function codePoints(text) { return Array.from(text || ""); }

  function candidateOf(id) {
    for (var i = 0; i < state.candidates.length; i++) if (state.candidates[i].id === id) return state.candidates[i];
    return null;
  }

  function annotationsOn(id) {
    return Object.keys(state.annotations).map(function (k) { return state.annotations[k]; })
      .filter(function (a) { return a.candidate === id; })
      .sort(function (a, b) { return a.start - b.start || a.end - b.end; });
  }

  function renderCandidate(candidate) {
    var box = document.querySelector('[data-candidate-text="' + CSS.escape(candidate.id) + '"]');
    if (!box) return;
    var points = codePoints(candidate.text);
    var annotations = annotationsOn(candidate.id);
    var cuts = { 0: true };
    cuts[points.length] = true;
    annotations.forEach(function (a) { cuts[a.start] = true; cuts[a.end] = true; });
    var offsets = Object.keys(cuts).map(Number).sort(function (a, b) { return a - b; });
    var nodes = [];
    for (var i = 0; i + 1 < offsets.length; i++) {
      var from = offsets[i], to = offsets[i + 1];
      var covering = annotations.filter(function (a) { return a.start <= from && a.end >= to; });
      var el;
      if (covering.length) {
        var worst = covering.reduce(function (w, a) { return SEVERITY_ORDER[a.severity] > SEVERITY_ORDER[w.severity] ? a : w; });
        el = document.createElement("mark");
        el.className = "sev-" + worst.severity;
        el.title = covering.map(function (a) { return a.severity + (a.comment ? ": " + a.comment : ""); }).join("\n");
      } else {
        el = document.createElement("span");
      }
      el.setAttribute("data-o", String(from));
      el.textContent = points.slice(from, to).join("");
      nodes.push(el);
    }
    box.replaceChildren.apply(box, nodes);
    renderAnnotationList(candidate.id);
  }

  function renderAnnotationList(id) {
    var list = document.querySelector('[data-annotations="' + CSS.escape(id) + '"]');
    var count = document.querySelector('[data-annotation-count="' + CSS.escape(id) + '"]');
    if (!list) return;
    var items = annotationsOn(id);
    if (count) count.textContent = String(items.length);
    list.replaceChildren.apply(list, items.map(function (a) {
      var li = document.createElement("li");
      li.className = "sev-" + a.severity;
      var parts = live.annotationParts(a);
      li.appendChild(parts.label);
      li.appendChild(parts.quote);
      li.appendChild(parts.comment);
      if (editable()) {
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "secondary outline";
        remove.textContent = "Delete";
        remove.setAttribute("aria-label", "Delete annotation on candidate " + (state.labels[id] || id));
        remove.addEventListener("click", function () { send({ type: "annotation.delete", id: a.id }); });
        li.appendChild(remove);
      }
      return li;
    }));
  }

  // A selection boundary inside a candidate's text as a code point offset.
  function offsetIn(box, node, offset) {
    var count = function (text) { return codePoints(text).length; };
    return live.pointOffset(box, node, offset, count, count(box.textContent));
  }

  var pending = null;
  function openAnnotate(id) {
    if (!editable()) return;
    var box = document.querySelector('[data-candidate-text="' + CSS.escape(id) + '"]');
    var selection = window.getSelection();
    if (!box || !selection || !selection.rangeCount || selection.isCollapsed) {
      notice("Select a passage of candidate " + (state.labels[id] || id) + " first.", "info");
      return;
    }
    var range = selection.getRangeAt(0);
    var start = offsetIn(box, range.startContainer, range.startOffset);
    var end = offsetIn(box, range.endContainer, range.endOffset);
    if (start === null || end === null || start === end) {
      notice("Select a passage inside candidate " + (state.labels[id] || id) + ".", "info");
      return;
    }
    if (start > end) { var t = start; start = end; end = t; }
    pending = { candidate: id, start: start, end: end };
    $("ws-annotate-label").textContent = state.labels[id] || id;
    $("ws-annotate-quote").textContent = codePoints(candidateOf(id).text).slice(start, end).join("");
    $("ws-annotate").hidden = false;
    $("ws-annotate-comment").focus();
  }
  function closeAnnotate() {
    if (!$("ws-annotate")) return;
    $("ws-annotate").hidden = true;
    $("ws-annotate-comment").value = "";
    pending = null;
  }
  document.querySelectorAll("[data-annotate]").forEach(function (b) {
    b.addEventListener("mousedown", function (e) { e.preventDefault(); });
    b.addEventListener("click", function () { openAnnotate(b.getAttribute("data-annotate")); });
  });
  if ($("ws-annotate")) {
    $("ws-annotate-cancel").addEventListener("click", closeAnnotate);
    $("ws-annotate").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!pending) return;
      send({
        type: "annotation.create", candidate: pending.candidate,
        client_id: live.clientId(),
        start: pending.start, end: pending.end,
        comment: $("ws-annotate-comment").value, severity: $("ws-annotate-severity").value,
      });
      closeAnnotate();
    });
  }

  // ------------------------------------------------------------------ preferences (the draft)

  function fieldsetOf(key) { return document.querySelector('[data-criterion="' + CSS.escape(key) + '"]'); }

  function readChoice(key) {
    var box = fieldsetOf(key);
    var rationale = box.querySelector("[data-rationale]").value;
    if (state.mode === "pairwise") {
      var checked = box.querySelector("input[type=radio]:checked");
      if (!checked) return { rationale: rationale };
      var value = checked.value;
      var cut = value.lastIndexOf(":");
      var winner = value.slice(0, cut);
      return { winner: winner || null, strength: Number(value.slice(cut + 1)), rationale: rationale };
    }
    var list = box.querySelector("[data-rank]");
    var ranked = list.getAttribute("data-ranked") === "true";
    var ranking = Array.prototype.map.call(list.children, function (li) { return li.getAttribute("data-id"); });
    return ranked ? { ranking: ranking, rationale: rationale } : { rationale: rationale };
  }

  function readComparison() {
    var criteria = {};
    state.criteria.forEach(function (c) {
      var choice = readChoice(c.key);
      if (choice.rationale || choice.strength !== undefined || choice.ranking) criteria[c.key] = choice;
    });
    var rewrite = $("cmp-rewrite").value;
    return { criteria: criteria, rewrite: rewrite || null };
  }

  function showChoice(key, choice) {
    var box = fieldsetOf(key);
    if (!box) return;
    choice = choice || {};
    var rationale = box.querySelector("[data-rationale]");
    if (document.activeElement !== rationale) rationale.value = choice.rationale || "";
    if (state.mode === "pairwise") {
      var value = choice.strength === undefined || choice.strength === null ? null
        : (choice.winner || "") + ":" + choice.strength;
      box.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = r.value === value; });
      return;
    }
    var list = box.querySelector("[data-rank]");
    if (choice.ranking) {
      choice.ranking.forEach(function (id) {
        var item = list.querySelector('[data-id="' + CSS.escape(id) + '"]');
        if (item) list.appendChild(item);
      });
    }
    setRanked(key, !!choice.ranking);
  }

  function setRanked(key, ranked) {
    var list = fieldsetOf(key).querySelector("[data-rank]");
    list.setAttribute("data-ranked", String(ranked));
    var note = document.querySelector('[data-rank-state="' + CSS.escape(key) + '"]');
    if (note) note.textContent = ranked ? "Ranked" : "Not ranked yet";
  }

  function showDraft() {
    if (state.dirty) return;
    state.criteria.forEach(function (c) { showChoice(c.key, state.comparison.criteria[c.key]); });
    if (document.activeElement !== $("cmp-rewrite")) $("cmp-rewrite").value = state.comparison.rewrite || "";
    if (document.activeElement !== $("ws-summary")) $("ws-summary").value = state.summary || "";
  }

  function markDirty() {
    if (!editable()) return;
    state.dirty = true;
    live.scheduleSave(flushDraft);
  }
  function flushDraft() {
    live.cancelSave();
    if (!state.dirty) return;
    var frame = { type: "draft.update", comparison: readComparison(), summary: $("ws-summary").value };
    state.sentJson = JSON.stringify(frame.comparison);
    live.sendDraft(frame);
  }

  document.querySelectorAll("#ws-review input[type=radio]").forEach(function (r) {
    r.addEventListener("change", markDirty);
  });
  document.querySelectorAll("#ws-review textarea").forEach(function (t) {
    t.addEventListener("input", markDirty);
  });
  document.querySelectorAll("[data-keep-order]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!editable()) return;
      setRanked(b.getAttribute("data-keep-order"), true);
      markDirty();
    });
  });

  function moveItem(item, direction) {
    var list = item.parentElement;
    if (direction === "up" && item.previousElementSibling) list.insertBefore(item, item.previousElementSibling);
    else if (direction === "down" && item.nextElementSibling) list.insertBefore(item.nextElementSibling, item);
    else return false;
    return true;
  }
  document.querySelectorAll("[data-rank]").forEach(function (list) {
    var key = list.getAttribute("data-rank");
    list.addEventListener("click", function (event) {
      var b = event.target.closest("[data-move]");
      if (!b || !editable()) return;
      var item = b.closest("li");
      if (moveItem(item, b.getAttribute("data-move"))) {
        setRanked(key, true);
        markDirty();
        b.focus();
        var position = Array.prototype.indexOf.call(list.children, item) + 1;
        $("ws-saved").textContent = item.querySelector(".cmp-rank__name").textContent + " is now number " + position + ".";
      }
    });
    var dragged = null;
    list.addEventListener("dragstart", function (event) {
      if (!editable()) { event.preventDefault(); return; }
      dragged = event.target.closest("li");
      if (event.dataTransfer) event.dataTransfer.setData("text/plain", dragged.getAttribute("data-id"));
    });
    list.addEventListener("dragover", function (event) { if (dragged) event.preventDefault(); });
    list.addEventListener("drop", function (event) {
      event.preventDefault();
      var target = event.target.closest("li");
      if (!dragged || !target || target === dragged) return;
      var after = Array.prototype.indexOf.call(list.children, target) > Array.prototype.indexOf.call(list.children, dragged);
      list.insertBefore(dragged, after ? target.nextElementSibling : target);
      dragged = null;
      setRanked(key, true);
      markDirty();
    });
  });

  // ------------------------------------------------------------------ status and protocol

  function onStatus() {
    var open = editable();
    document.querySelectorAll("#ws-review fieldset").forEach(function (f) { f.disabled = !open; });
    document.querySelectorAll("[data-annotate], #ws-submit").forEach(function (b) { b.disabled = !open; });
    if (!open) closeAnnotate();
  }

  function loadSnapshot(snapshot) {
    var cmp = snapshot.review_request.comparison || {};
    state.mode = cmp.mode;
    state.candidates = cmp.candidates || [];
    state.criteria = cmp.criteria || [];
    state.labels = {};
    state.candidates.forEach(function (c) { state.labels[c.id] = c.label; });
    state.annotations = {};
    snapshot.annotations.forEach(function (a) { state.annotations[a.id] = a; });
    var draft = snapshot.draft || {};
    state.comparison = draft.comparison || { criteria: {}, rewrite: null };
    state.summary = draft.summary || "";
  }
  function renderSnapshot() {
    state.candidates.forEach(renderCandidate);
    showDraft();
  }
  function resume() {
    if (state.dirty) flushDraft();
  }

  function applyEvent(e) {
    switch (e.kind) {
      case "annotation.created":
      case "annotation.updated":
        state.annotations[e.annotation.id] = e.annotation;
        if (candidateOf(e.annotation.candidate)) renderCandidate(candidateOf(e.annotation.candidate));
        break;
      case "annotation.deleted":
        var gone = state.annotations[e.id];
        delete state.annotations[e.id];
        if (gone && candidateOf(gone.candidate)) renderCandidate(candidateOf(gone.candidate));
        break;
      case "draft.updated":
        var mine = e.actor && state.me && e.actor.id === state.me.id;
        state.comparison = e.draft.comparison || { criteria: {}, rewrite: null };
        state.summary = e.draft.summary || "";
        if (mine && state.dirty && JSON.stringify(readComparison()) === state.sentJson) {
          state.dirty = false;
          $("ws-saved").textContent = "All changes saved";
        }
        showDraft();
        document.body.setAttribute("data-ws-draft", JSON.stringify(state.comparison));
        break;
      case "submitted":
        state.dirty = false;
        if (e.review && e.review.comparison) state.comparison = e.review.comparison;
        live.setStatus("submitted");
        showDraft();
        live.setTime(e.billed_seconds, state.time.max, false);
        $("ws-saved").textContent = "";
        notice("The review was submitted" + (isExpert ? ". Thank you!" : " by the expert."), "sticky");
        break;
      default:
        break;
    }
  }

  // An incomplete draft names the criterion: go to it.
  function onError(frame) {
    if (frame.code === "incomplete_draft" && frame.field) {
      var box = fieldsetOf(frame.field.split(".").pop());
      if (box) box.querySelector("input, button, textarea").focus();
    }
  }

  // ------------------------------------------------------------------ submit

  function unfilled() {
    for (var i = 0; i < state.criteria.length; i++) {
      var choice = readChoice(state.criteria[i].key);
      if (state.mode === "pairwise" ? choice.strength === undefined : !choice.ranking) return state.criteria[i];
    }
    return null;
  }
  function openSubmit() {
    if (!editable()) return;
    var missing = unfilled();
    if (missing) {
      notice("Choose a preference for " + missing.label + " first.", "error");
      fieldsetOf(missing.key).querySelector("input, button").focus();
      return;
    }
    var annotated = Object.keys(state.annotations).length;
    $("ws-confirm-summary").textContent = state.criteria.length + " criteria chosen · " + annotated +
      " annotation(s)" + ($("cmp-rewrite").value ? " · with a rewrite" : "") +
      " · billed time so far " + live.formatClock(state.time.billed) + ".";
    live.showDialog($("ws-confirm"));
  }
  live.bindSubmit(openSubmit, flushDraft);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") closeAnnotate(); });

  live.start();
})();
