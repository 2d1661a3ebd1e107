/*
 * Offers inbox: keep the list current without a reload.
 *  - On an "offer" notification (common.js dispatches "inloop:notification"), fetch the
 *    server-rendered list fragment and swap it in (Django escaped it; nothing untrusted is
 *    ever assigned to innerHTML here: the fragment is parsed and its nodes imported).
 *  - Every 60 s, refresh too, so offers taken by someone else disappear.
 *  - When an offer's countdown reaches zero, its buttons are disabled and it says so.
 */
(function () {
  "use strict";

  var container = document.getElementById("offer-list");
  if (!container) return;
  var url = container.getAttribute("data-fragment-url");
  var conn = document.getElementById("offers-conn");
  var busy = false;

  function formBusy() {
    return !!container.querySelector("form[data-submitting]");
  }

  function refresh() {
    if (busy || formBusy()) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (formBusy()) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var nodes = Array.prototype.map.call(doc.body.childNodes, function (node) {
          return document.importNode(node, true);
        });
        container.replaceChildren.apply(container, nodes);
        if (window.Inloop) {
          window.Inloop.refreshRelativeTimes(container);
          window.Inloop.refreshCountdowns();
        }
      })
      .catch(function () {
        /* keep the current list; the next notification or tick retries */
      })
      .then(function () {
        busy = false;
      });
  }

  document.addEventListener("inloop:notification", function (event) {
    var n = event.detail || {};
    if (n.kind === "offer") refresh();
  });

  container.addEventListener("inloop:countdown-end", function (event) {
    var item = event.target.closest("[data-offer-id]");
    if (!item) return;
    item.setAttribute("data-expired", "");
    var buttons = item.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    event.target.textContent = "Expired";
  });

  // Mirror the notifications socket's state next to the list.
  if (conn) {
    var indicator = document.getElementById("notif-conn");
    var sync = function () {
      var state = window.Inloop && window.Inloop.notifications && window.Inloop.notifications.state;
      conn.textContent = state === "connected" ? "live" : state === "offline" ? "offline, retrying" : "connecting…";
    };
    window.setInterval(sync, 2000);
    window.setTimeout(sync, 300);
    if (indicator) indicator.addEventListener("change", sync);
  }

  window.setInterval(refresh, 60000);
})();
