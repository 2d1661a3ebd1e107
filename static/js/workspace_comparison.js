/*
 * Inloop live workspace of a comparison request (contract/WORKSPACE.md and
 * docs/contract/workspace-comparison.md). Plain script, loaded with `defer`.
 *
 * The same socket protocol as workspace.js (snapshot, events by seq, resume with ?after_seq,
 * heartbeats, chat, presence, the clock); the draft is `draft.update` with `comparison`
 * ({"criteria": {key: choice}, "rewrite"}) sent whole, and `summary`. Annotations name the
 * candidate they are on; their offsets are code points into that candidate's text.
 *
 * Everything from the server is written with textContent or DOM building, never innerHTML.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("ws-config").textContent);
  var isExpert = config.role === "expert";
  var HEARTBEAT_MS = 20000;
  var AUTOSAVE_MS = 800;
  var ACTIVE = { accepted: true, in_progress: true };
  var STATUS_LABEL = {
    accepted: "Accepted", in_progress: "In progress", submitted: "Submitted",
    released: "Released", disputed: "Disputed", resolved: "Resolved",
  };
  var SEVERITY_ORDER = { info: 0, minor: 1, major: 2, critical: 3 };

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    seq: null, me: null, status: null, mode: null,
    candidates: [], labels: {}, criteria: [],
    annotations: {}, comparison: { criteria: {}, rewrite: null }, summary: "",
    dirty: false, sentJson: null, messages: {},
    time: { billed: 0, max: 0, running: false, at: Date.now() }, outbox: [],
  };

  function editable() { return isExpert && !!ACTIVE[state.status]; }

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
      var label = document.createElement("span");
      label.className = "sev-label sev-" + a.severity;
      label.textContent = a.severity;
      var quote = document.createElement("blockquote");
      quote.textContent = a.quote;
      var comment = document.createElement("p");
      comment.className = "small";
      comment.textContent = a.comment || "(no comment)";
      li.appendChild(label);
      li.appendChild(quote);
      li.appendChild(comment);
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
    if (!box.contains(node)) return null;
    if (node.nodeType === 3 && node.parentElement && node.parentElement.hasAttribute("data-o")) {
      return Number(node.parentElement.getAttribute("data-o")) + codePoints(node.data.slice(0, offset)).length;
    }
    var point = document.createRange();
    point.setStart(node, offset);
    var pieces = box.querySelectorAll("[data-o]");
    for (var i = 0; i < pieces.length; i++) {
      if (point.comparePoint(pieces[i], 0) >= 0) return Number(pieces[i].getAttribute("data-o"));
    }
    return codePoints(box.textContent).length;
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
        client_id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8),
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

  var saveTimer = null;
  function markDirty() {
    if (!editable()) return;
    state.dirty = true;
    $("ws-saved").textContent = "Unsaved changes…";
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(flushDraft, AUTOSAVE_MS);
  }
  function flushDraft() {
    window.clearTimeout(saveTimer);
    if (!state.dirty) return;
    var frame = { type: "draft.update", comparison: readComparison(), summary: $("ws-summary").value };
    state.sentJson = JSON.stringify(frame.comparison);
    if (send(frame)) $("ws-saved").textContent = "Saving…";
    else $("ws-saved").textContent = "Offline: changes kept here, saved when the connection is back.";
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

  // ------------------------------------------------------------------ chat, presence, clock, notices

  var chat = $("ws-chat");
  function addMessage(message) {
    if (state.messages[message.seq]) return;
    state.messages[message.seq] = true;
    var li = document.createElement("li");
    var system = message.kind === "system";
    var mine = !system && message.actor && state.me && message.actor.id === state.me.id;
    li.className = "chat__msg" + (mine ? " chat__msg--mine" : "") + (system ? " chat__msg--system" : "");
    var meta = document.createElement("span");
    meta.className = "chat__meta";
    meta.textContent = system ? "Inloop" : (message.actor ? message.actor.name + " · " + message.actor.role : "");
    var body = document.createElement("p");
    body.className = "chat__body";
    body.textContent = message.body;
    li.appendChild(meta);
    li.appendChild(body);
    chat.appendChild(li);
    chat.scrollTop = chat.scrollHeight;
  }
  function sendChat() {
    var box = $("ws-chat-body");
    if (!box.value.trim()) return;
    if (send({ type: "chat.message", body: box.value })) box.value = "";
  }
  $("ws-chat-form").addEventListener("submit", function (event) { event.preventDefault(); sendChat(); });
  $("ws-chat-body").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); sendChat(); }
  });

  function renderPresence(participants) {
    var list = $("ws-presence");
    list.replaceChildren.apply(list, participants.map(function (p) {
      var li = document.createElement("li");
      var badge = document.createElement("span");
      badge.className = "badge badge--plain" + (p.role === "expert" ? " badge--info" : "");
      badge.textContent = p.name + " (" + p.role + ")";
      li.appendChild(badge);
      return li;
    }));
  }

  function setStatus(status) {
    state.status = status;
    var badge = $("ws-status");
    badge.className = "badge badge--" + status;
    badge.textContent = STATUS_LABEL[status] || status;
    var open = editable();
    document.querySelectorAll("#ws-review fieldset").forEach(function (f) { f.disabled = !open; });
    document.querySelectorAll("[data-annotate], #ws-submit").forEach(function (b) { b.disabled = !open; });
    if (!open) closeAnnotate();
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function formatClock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    return Math.floor(seconds / 3600) + ":" + pad(Math.floor((seconds % 3600) / 60)) + ":" + pad(seconds % 60);
  }
  function setTime(billed, max, running) {
    state.time = { billed: billed, max: max, running: !!running, at: Date.now() };
    $("ws-max").textContent = formatClock(max);
    $("ws-progress").max = max || 1;
    tickClock();
  }
  function tickClock() {
    var t = state.time;
    var live = t.running && socketOpen() && ACTIVE[state.status];
    var extra = live ? Math.min((Date.now() - t.at) / 1000, HEARTBEAT_MS / 1000 + 5) : 0;
    var shown = Math.min(t.billed + extra, t.max);
    $("ws-clock").textContent = formatClock(shown);
    $("ws-progress").value = shown;
  }
  window.setInterval(tickClock, 1000);

  var noticeTimer = null;
  function notice(text, kind) {
    var box = $("ws-notice");
    box.textContent = text;
    box.setAttribute("data-kind", kind || "info");
    box.hidden = false;
    window.clearTimeout(noticeTimer);
    if (kind !== "sticky") noticeTimer = window.setTimeout(function () { box.hidden = true; }, 12000);
  }

  // ------------------------------------------------------------------ protocol

  function applySnapshot(snapshot) {
    var cmp = snapshot.review_request.comparison || {};
    state.me = snapshot.you;
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
    setStatus(snapshot.assignment.status);
    setTime(snapshot.assignment.billed_seconds, snapshot.assignment.max_seconds, snapshot.assignment.running);
    snapshot.messages.forEach(addMessage);
    renderPresence(snapshot.participants || []);
    state.candidates.forEach(renderCandidate);
    showDraft();
    state.seq = snapshot.seq;
    document.body.setAttribute("data-ws-seq", String(state.seq));
    if (state.dirty) flushDraft();
    state.outbox.splice(0).forEach(send);
  }

  function applyEvent(frame) {
    var e = frame.event;
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
      case "chat.message":
      case "system":
        addMessage(Object.assign({ seq: frame.seq }, e));
        break;
      case "submitted":
        state.dirty = false;
        if (e.review && e.review.comparison) state.comparison = e.review.comparison;
        setStatus("submitted");
        showDraft();
        setTime(e.billed_seconds, state.time.max, false);
        $("ws-saved").textContent = "";
        notice("The review was submitted" + (isExpert ? ". Thank you!" : " by the expert."), "sticky");
        break;
      default:
        break;
    }
    if (state.seq === null || frame.seq > state.seq) state.seq = frame.seq;
    document.body.setAttribute("data-ws-seq", String(state.seq));
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "snapshot") applySnapshot(frame);
    else if (frame.type === "event") {
      if (state.seq !== null && frame.seq > state.seq + 1) { reconnectNow(); return; }
      applyEvent(frame);
    } else if (frame.type === "presence") renderPresence(frame.participants || []);
    else if (frame.type === "time") {
      if (frame.status && frame.status !== state.status) setStatus(frame.status);
      setTime(frame.billed_seconds, frame.max_seconds, frame.running);
    } else if (frame.type === "notice") notice(frame.message, "sticky");
    else if (frame.type === "error") {
      notice(frame.message || frame.code, "error");
      if (frame.code === "incomplete_draft" && frame.field) {
        var key = frame.field.split(".").pop();
        var box = fieldsetOf(key);
        if (box) box.querySelector("input, button, textarea").focus();
      }
    }
  }

  // ------------------------------------------------------------------ socket

  var ws = null, attempt = 0, retryTimer = null, finalClose = false;
  var CONN_TEXT = { connecting: "Connecting…", connected: "Live", offline: "Offline, reconnecting…", closed: "Disconnected" };
  function setConn(next) {
    $("ws-conn").setAttribute("data-state", next === "closed" ? "offline" : next);
    $("ws-conn").textContent = CONN_TEXT[next];
    document.body.setAttribute("data-ws-state", next);
  }
  function socketOpen() { return ws && ws.readyState === WebSocket.OPEN; }
  function send(frame) {
    if (socketOpen()) { ws.send(JSON.stringify(frame)); return true; }
    if (frame.type !== "heartbeat" && frame.type !== "draft.update") state.outbox.push(frame);
    return false;
  }
  function connect() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    setConn("connecting");
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + window.location.host + config.socket_url;
    if (state.seq !== null) url += "?after_seq=" + state.seq;
    var socket = new WebSocket(url);
    ws = socket;
    socket.addEventListener("open", function () { attempt = 0; setConn("connected"); });
    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
      if (frame.type === "snapshot") beat();
    });
    socket.addEventListener("close", function (event) {
      if (ws !== socket) return;
      ws = null;
      if (event.code === 4401 || event.code === 4403) {
        finalClose = true;
        setConn("closed");
        notice(event.code === 4401 ? "You were logged out. Log in again to continue; your saved work is kept."
          : "You no longer have access to this workspace.", "sticky");
        return;
      }
      setConn("offline");
      if (!finalClose && !retryTimer) {
        var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.25);
        attempt += 1;
        retryTimer = window.setTimeout(connect, delay);
      }
    });
  }
  function reconnectNow() {
    if (finalClose) return;
    if (ws) { var old = ws; ws = null; old.close(1000); }
    attempt = 0;
    connect();
  }
  window.addEventListener("online", function () { if (!ws) reconnectNow(); });
  function beat() {
    if (editable() && document.visibilityState === "visible") send({ type: "heartbeat" });
  }
  window.setInterval(beat, HEARTBEAT_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { if (!ws && !finalClose) reconnectNow(); beat(); }
  });

  // ------------------------------------------------------------------ submit

  function unfilled() {
    for (var i = 0; i < state.criteria.length; i++) {
      var choice = readChoice(state.criteria[i].key);
      if (state.mode === "pairwise" ? choice.strength === undefined : !choice.ranking) return state.criteria[i];
    }
    return null;
  }
  var confirmDialog = $("ws-confirm");
  if ($("ws-submit")) {
    $("ws-submit").addEventListener("click", function () {
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
        " · billed time so far " + formatClock(state.time.billed) + ".";
      if (typeof confirmDialog.showModal === "function") confirmDialog.showModal();
      else confirmDialog.setAttribute("open", "");
    });
    $("ws-confirm-submit").addEventListener("click", function () {
      flushDraft();
      if (!send({ type: "submit" })) notice("Offline: the review will be submitted when the connection is back.", "error");
      confirmDialog.close();
    });
  }
  document.querySelectorAll("dialog [data-close]").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") closeAnnotate(); });

  setStatus($("ws-status").className.replace(/^.*badge--/, ""));
  connect();
})();
