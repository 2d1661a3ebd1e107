/*
 * The company's Datasets page (/company/datasets/): every export still queued or running is
 * re-read from the API (GET /api/v1/exports/<id>, the session's cookie) every 2 s, and its
 * status, progress, line count, SHA-256, error and download link are updated in place. Polling
 * stops for an export once it is completed or failed, and altogether when none is left.
 *
 * Server data is only ever written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var LABELS = { queued: "Queued", running: "Running", completed: "Completed", failed: "Failed" };
  var ACTIVE = { queued: true, running: true };

  function field(item, name) {
    return item.querySelector('[data-field="' + name + '"]');
  }

  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined) return "";
    var units = ["bytes", "KB", "MB", "GB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function progressText(data) {
    var p = data.progress;
    if (p.rows_total !== null && p.rows_total !== undefined) {
      return p.rows_done + " of " + p.rows_total + " source rows";
    }
    return data.status === "queued" ? "Waiting for a worker" : p.rows_done + " source rows";
  }

  function render(item, data) {
    item.setAttribute("data-status", data.status);
    var badge = field(item, "status");
    badge.className = "badge badge--" + data.status;
    badge.textContent = LABELS[data.status] || data.status;
    field(item, "progress-text").textContent = progressText(data);
    var bar = field(item, "progress");
    var total = data.progress.rows_total || 1;
    bar.max = total;
    bar.value = data.status === "completed" ? total : data.progress.rows_done;
    bar.textContent = String(data.progress.rows_done);
    field(item, "rows").textContent = data.rows === null ? "—" : String(data.rows);
    field(item, "sha256").textContent = data.sha256 || "—";
    var error = field(item, "error");
    error.textContent = data.error || "";
    error.hidden = !data.error;
    var download = field(item, "download");
    if (data.download_url) {
      var link = download.querySelector("a");
      link.href = data.download_url;
      var hidden = link.querySelector(".sr-only");
      link.textContent = "Download ";
      if (hidden) link.appendChild(hidden);
      link.appendChild(
        document.createTextNode("(.jsonl" + (data.size_bytes ? ", " + formatBytes(data.size_bytes) : "") + ")")
      );
      download.hidden = false;
    }
  }

  function poll(item) {
    var id = item.getAttribute("data-export");
    return fetch("/api/v1/exports/" + encodeURIComponent(id), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        render(item, data);
      });
  }

  function activeItems() {
    return Array.prototype.filter.call(document.querySelectorAll("li[data-export]"), function (item) {
      return ACTIVE[item.getAttribute("data-status")];
    });
  }

  function tick() {
    var items = activeItems();
    if (!items.length) return;
    Promise.all(
      items.map(function (item) {
        return poll(item).catch(function () {
          /* a missed poll is retried at the next tick */
        });
      })
    ).then(function () {
      window.setTimeout(tick, POLL_MS);
    });
  }

  if (activeItems().length) window.setTimeout(tick, POLL_MS);
})();
