/*
 * Inloop live workspace, the part both workspaces share (contract/WORKSPACE.md): one socket per
 * page that reconnects with backoff and resumes with ?after_seq=<last seq seen>, so nothing sent
 * while away is lost and nothing is applied twice (events are applied by seq); heartbeats from the
 * expert's visible tab; chat, presence, the status badge, the clock, notices and dialogs.
 * Plain script, loaded with `defer` before the page's own script (workspace.js,
 * workspace_comparison.js), which calls window.InloopWorkspace(state, page) once.
 *
 * `state` is the page's state object; this file reads and writes its seq, me, status, time,
 * messages and outbox. `page` holds the page's hooks:
 *   load(snapshot)      take the page's own data from a snapshot (before status and clock)
 *   render()            draw the page after a snapshot
 *   resume()            send work typed while offline (after the snapshot's seq is taken)
 *   event(e, frame)     an event other than chat.message and system
 *   status(status, changed)   the status changed or was set again: enable or disable the page
 *   error(frame)        after the notice of an error frame (optional)
 *   denied()            the socket was closed for good for lack of access (optional)
 *
 * Everything from the server is written with textContent or DOM building, never innerHTML.
 */
(function () {
  "use strict";

  var HEARTBEAT_MS = 20000;
  var AUTOSAVE_MS = 800;
  var ACTIVE = { accepted: true, in_progress: true };
  var STATUS_LABEL = {
    accepted: "Accepted", in_progress: "In progress", submitted: "Submitted",
    released: "Released", disputed: "Disputed", resolved: "Resolved",
  };
  var CONN_TEXT = { connecting: "Connecting…", connected: "Live", offline: "Offline, reconnecting…", closed: "Disconnected" };
  var $ = function (id) { return document.getElementById(id); };

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function formatClock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    return Math.floor(seconds / 3600) + ":" + pad(Math.floor((seconds % 3600) / 60)) + ":" + pad(seconds % 60);
  }
  function clientId() { return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }
  function showDialog(dialog) {
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }
  function closeDialog(dialog) {
    if (typeof dialog.close === "function" && dialog.open) dialog.close();
    else dialog.removeAttribute("open");
  }

  // A selection boundary inside root as a code point offset: the first piece ([data-o]) at or
  // after the point; `total` when there is none. count(str) is the code point length of str.
  function pointOffset(root, node, offset, count, total) {
    if (!root || !root.contains(node)) return null;
    if (node.nodeType === 3 && node.parentElement && node.parentElement.hasAttribute("data-o")) {
      return Number(node.parentElement.getAttribute("data-o")) + count(node.data.slice(0, offset));
    }
    var point = document.createRange();
    point.setStart(node, offset);
    var pieces = root.querySelectorAll("[data-o]");
    for (var i = 0; i < pieces.length; i++) {
      if (point.comparePoint(pieces[i], 0) >= 0) return Number(pieces[i].getAttribute("data-o"));
    }
    return total;
  }

  // An annotation's severity label, quote and comment, for a list item.
  function annotationParts(a) {
    var label = document.createElement("span");
    label.className = "sev-label sev-" + a.severity;
    label.textContent = a.severity;
    var quote = document.createElement("blockquote");
    quote.textContent = a.quote;
    var comment = document.createElement("p");
    comment.className = "small";
    comment.textContent = a.comment || "(no comment)";
    return { label: label, quote: quote, comment: comment };
  }

  function workspace(state, page) {
    var config = JSON.parse($("ws-config").textContent);
    var isExpert = config.role === "expert";
    var live = {
      config: config, isExpert: isExpert, ACTIVE: ACTIVE, $: $, formatClock: formatClock,
      clientId: clientId, showDialog: showDialog, closeDialog: closeDialog,
      pointOffset: pointOffset, annotationParts: annotationParts,
    };
    var editable = function () { return isExpert && !!ACTIVE[state.status]; };
    live.editable = editable;

    // ---------------------------------------------------------------- notices, status, clock

    var noticeTimer = null;
    live.notice = function (text, kind) {
      var box = $("ws-notice");
      box.textContent = text;
      box.setAttribute("data-kind", kind || "info");
      box.hidden = false;
      window.clearTimeout(noticeTimer);
      if (kind !== "sticky") {
        noticeTimer = window.setTimeout(function () { box.hidden = true; }, 12000);
      }
    };

    live.setStatus = function (status) {
      var changed = state.status !== status;
      state.status = status;
      var badge = $("ws-status");
      badge.className = "badge badge--" + status;
      badge.textContent = STATUS_LABEL[status] || status;
      page.status(status, changed);
    };

    live.setTime = function (billed, max, running) {
      state.time = { billed: billed, max: max, running: !!running, at: Date.now() };
      $("ws-max").textContent = formatClock(max);
      $("ws-progress").max = max || 1;
      tickClock();
    };
    function tickClock() {
      var t = state.time;
      var running = t.running && socketOpen() && ACTIVE[state.status];
      // Between heartbeats the server's figure is at most one beat behind: count on locally.
      var extra = running ? Math.min((Date.now() - t.at) / 1000, HEARTBEAT_MS / 1000 + 5) : 0;
      var shown = Math.min(t.billed + extra, t.max);
      $("ws-clock").textContent = formatClock(shown);
      $("ws-clock").setAttribute("data-billed", String(t.billed));
      $("ws-progress").value = shown;
    }
    window.setInterval(tickClock, 1000);

    // ---------------------------------------------------------------- draft autosave

    var saveTimer = null;
    live.scheduleSave = function (flush) {
      $("ws-saved").textContent = "Unsaved changes…";
      window.clearTimeout(saveTimer);
      saveTimer = window.setTimeout(flush, AUTOSAVE_MS);
    };
    live.cancelSave = function () { window.clearTimeout(saveTimer); };
    live.sendDraft = function (frame) {
      if (send(frame)) {
        $("ws-saved").textContent = "Saving…";
        return true;
      }
      $("ws-saved").textContent = "Offline: changes kept here, saved when the connection is back.";
      return false;
    };

    // ---------------------------------------------------------------- chat and presence

    installChat(state, live);
    live.renderPresence = renderPresence;

    // ---------------------------------------------------------------- protocol

    function applySnapshot(snapshot) {
      state.me = snapshot.you;
      page.load(snapshot);
      live.setStatus(snapshot.assignment.status);
      live.setTime(snapshot.assignment.billed_seconds, snapshot.assignment.max_seconds, snapshot.assignment.running);
      snapshot.messages.forEach(live.addMessage);
      renderPresence(snapshot.participants || []);
      page.render();
      state.seq = snapshot.seq;
      document.body.setAttribute("data-ws-seq", String(state.seq));
      // Work typed while offline goes out now.
      page.resume();
      var queued = state.outbox.splice(0);
      queued.forEach(send);
    }

    function applyEvent(frame) {
      // Replayed after a resume: chat lines are keyed by seq, state events are idempotent.
      var e = frame.event;
      if (e.kind === "chat.message" || e.kind === "system") live.addMessage(Object.assign({ seq: frame.seq }, e));
      else page.event(e, frame);
      if (state.seq === null || frame.seq > state.seq) state.seq = frame.seq;
      document.body.setAttribute("data-ws-seq", String(state.seq));
    }

    function onError(frame) {
      if (frame.code === "incomplete_draft" || frame.code === "invalid" || frame.code === "not_found") {
        live.notice(frame.message, "error");
      } else if (frame.code === "rate_limited") {
        live.notice("Too many changes at once: slow down a little.", "error");
      } else {
        live.notice(frame.message || frame.code, "error");
      }
      if (page.error) page.error(frame);
    }

    function onFrame(frame) {
      if (!frame || typeof frame !== "object") return;
      switch (frame.type) {
        case "snapshot":
          applySnapshot(frame);
          break;
        case "event":
          if (state.seq !== null && frame.seq > state.seq + 1) {
            // A gap (should not happen: the server fills them). Resume from what we have.
            reconnectNow();
            return;
          }
          applyEvent(frame);
          break;
        case "presence":
          renderPresence(frame.participants || []);
          break;
        case "time":
          if (frame.status && frame.status !== state.status) live.setStatus(frame.status);
          live.setTime(frame.billed_seconds, frame.max_seconds, frame.running);
          break;
        case "notice":
          live.notice(frame.message, "sticky");
          break;
        case "error":
          onError(frame);
          break;
        default:
          break;
      }
    }

    // ---------------------------------------------------------------- socket

    var ws = null;
    var attempt = 0;
    var retryTimer = null;
    var finalClose = false;

    function setConn(next) {
      var conn = $("ws-conn");
      conn.setAttribute("data-state", next === "closed" ? "offline" : next);
      conn.textContent = CONN_TEXT[next];
      document.body.setAttribute("data-ws-state", next);
    }
    function socketOpen() { return ws && ws.readyState === WebSocket.OPEN; }

    function send(frame) {
      if (socketOpen()) {
        ws.send(JSON.stringify(frame));
        return true;
      }
      if (frame.type !== "heartbeat" && frame.type !== "draft.update") state.outbox.push(frame);
      return false;
    }
    live.send = send;

    function connect() {
      window.clearTimeout(retryTimer);
      retryTimer = null;
      setConn("connecting");
      var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      var url = proto + "//" + window.location.host + config.socket_url;
      if (state.seq !== null) url += "?after_seq=" + state.seq;
      var socket = new WebSocket(url);
      ws = socket;
      socket.addEventListener("open", function () {
        attempt = 0;
        setConn("connected");
      });
      socket.addEventListener("message", function (event) {
        var frame;
        try { frame = JSON.parse(event.data); } catch (e) { return; }
        onFrame(frame);
        if (frame.type === "snapshot") beat();
      });
      socket.addEventListener("close", function (event) {
        if (ws !== socket) return;
        ws = null;
        onClose(event);
      });
    }
    function onClose(event) {
      if (event.code === 4401) {
        finalClose = true;
        setConn("closed");
        live.notice("You were logged out. Log in again to continue; your saved work is kept.", "sticky");
        return;
      }
      if (event.code === 4403 || (event.code === 1006 && state.seq === null && attempt > 3)) {
        finalClose = true;
        setConn("closed");
        live.notice("You no longer have access to this workspace (it may have been released or reassigned).", "sticky");
        live.setStatus(state.status === null ? "released" : state.status);
        if (page.denied) page.denied();
        return;
      }
      if (event.code === 4008) live.notice("The connection was closed for sending too fast; reconnecting.", "error");
      setConn("offline");
      schedule();
    }
    function schedule() {
      if (finalClose || retryTimer) return;
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.25);
      attempt += 1;
      retryTimer = window.setTimeout(connect, delay);
    }
    function reconnectNow() {
      if (finalClose) return;
      if (ws) { var old = ws; ws = null; old.close(1000); }
      attempt = 0;
      connect();
    }
    window.addEventListener("online", function () { if (!ws) reconnectNow(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        if (!ws && !finalClose) reconnectNow();
        beat();
      }
    });

    // Heartbeats: only from the expert's visible tab while the assignment is open.
    function beat() {
      if (editable() && document.visibilityState === "visible") send({ type: "heartbeat" });
    }
    window.setInterval(beat, HEARTBEAT_MS);

    // ---------------------------------------------------------------- submit and dialogs

    // openSubmit checks the draft and opens #ws-confirm; flush sends unsaved draft fields.
    live.bindSubmit = function (openSubmit, flush) {
      if (!$("ws-submit")) return;
      $("ws-submit").addEventListener("click", openSubmit);
      $("ws-confirm-submit").addEventListener("click", function () {
        flush();
        if (send({ type: "submit" })) {
          $("ws-confirm-submit").setAttribute("aria-busy", "true");
        } else {
          live.notice("Offline: the review will be submitted when the connection is back.", "error");
        }
        closeDialog($("ws-confirm"));
        window.setTimeout(function () { $("ws-confirm-submit").removeAttribute("aria-busy"); }, 2000);
      });
    };
    document.querySelectorAll("dialog [data-close]").forEach(function (b) {
      b.addEventListener("click", function () { closeDialog(b.closest("dialog")); });
    });

    // The status drawn by the server, then the socket.
    live.start = function () {
      live.setStatus($("ws-status").className.replace(/^.*badge--/, ""));
      connect();
    };
    return live;
  }

  function installChat(state, live) {
    var chat = $("ws-chat");
    live.addMessage = function (message) {
      if (state.messages[message.seq]) return;
      state.messages[message.seq] = true;
      var li = document.createElement("li");
      var system = message.kind === "system";
      var mine = !system && message.actor && state.me && message.actor.id === state.me.id;
      li.className = "chat__msg" + (mine ? " chat__msg--mine" : "") + (system ? " chat__msg--system" : "");
      var meta = document.createElement("span");
      meta.className = "chat__meta";
      var who = system ? "Inloop" : (message.actor ? message.actor.name + " · " + message.actor.role : "");
      var when = message.at ? new Date(message.at) : null;
      meta.textContent = who + (when ? " · " + when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "");
      if (when && window.Inloop && window.Inloop.formatExact) meta.title = window.Inloop.formatExact(when);
      var body = document.createElement("p");
      body.className = "chat__body";
      body.textContent = message.body;
      li.appendChild(meta);
      li.appendChild(body);
      // Keep seq order even when a resume replays older lines.
      li.setAttribute("data-seq", String(message.seq));
      var after = null;
      for (var node = chat.lastElementChild; node; node = node.previousElementSibling) {
        if (Number(node.getAttribute("data-seq")) < message.seq) { after = node; break; }
      }
      if (after) after.after(li); else chat.prepend(li);
      chat.scrollTop = chat.scrollHeight;
    };

    function sendChat() {
      var box = $("ws-chat-body");
      var text = box.value;
      if (!text.trim()) return;
      if (text.length > 4000) {
        live.notice("A message is at most 4,000 characters.", "error");
        return;
      }
      if (live.send({ type: "chat.message", body: text })) box.value = "";
    }
    $("ws-chat-form").addEventListener("submit", function (event) {
      event.preventDefault();
      sendChat();
    });
    $("ws-chat-body").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        sendChat();
      }
    });
  }

  function renderPresence(participants) {
    var list = $("ws-presence");
    var items = participants.map(function (p) {
      var li = document.createElement("li");
      var badge = document.createElement("span");
      badge.className = "badge badge--plain" + (p.role === "expert" ? " badge--info" : "");
      badge.textContent = p.name + " (" + p.role + (p.connections > 1 ? ", " + p.connections + " tabs" : "") + ")";
      li.appendChild(badge);
      return li;
    });
    list.replaceChildren.apply(list, items);
  }

  window.InloopWorkspace = workspace;
})();
