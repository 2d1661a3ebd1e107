/*
 * Weekly availability grid on the expert's profile page (progressive enhancement).
 *
 * Without JavaScript the form is seven text fields, one a weekday, "09:00-12:00, 13:00-17:30"
 * in the expert's own time zone; the server parses and validates them. This script adds a
 * 7 x 24 grid of hour toggles above them and keeps both in step: the text fields stay the
 * only thing submitted, the grid only writes them (and is redrawn when they are typed in).
 *
 *  - Each cell is a <button aria-pressed> named "Monday 09:00 to 10:00"; "mixed" when only
 *    part of that hour is inside a window (the exact minutes live in the text fields).
 *  - Keyboard: one tab stop for the whole grid (roving tabindex); arrow keys move, Home/End
 *    go to the first/last hour of the day, Ctrl+Home/End to the corners; Space or Enter
 *    toggles (the button's own click, so screen readers' activation works too); Shift+arrow
 *    moves and gives the next cell the same state (paint a range).
 *  - Pointer: press on a cell and drag across others to set them all to the new state.
 *  - A polite live region reads the changed day's windows back.
 *
 * Nothing from the server is written with innerHTML.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-availability]");
  if (!form) return;
  var textBlock = form.querySelector("[data-availability-text]");
  if (!textBlock) return;

  var DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  var SPAN = /^\s*(\d{1,2}):(\d{2})\s*[-\u2013]\s*(\d{1,2}):(\d{2})\s*$/;
  var timezone = form.getAttribute("data-timezone") || "UTC";
  var inputs = DAYS.map(function (_, day) {
    return form.querySelector('[name="day_' + day + '"]');
  });
  if (inputs.some(function (input) { return !input; })) return;

  /* ------------------------------------------------------------ */
  /* Text <-> minute ranges                                        */
  /* ------------------------------------------------------------ */

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function hhmm(minutes) {
    return pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }

  // [[start, end), ...] sorted and merged, or null when the text is not valid.
  function parse(text) {
    var ranges = [];
    var parts = text.split(",");
    for (var i = 0; i < parts.length; i++) {
      if (!parts[i].trim()) continue;
      var m = SPAN.exec(parts[i]);
      if (!m) return null;
      var h1 = +m[1], m1 = +m[2], h2 = +m[3], m2 = +m[4];
      var start = h1 * 60 + m1, end = h2 * 60 + m2;
      if (m1 > 59 || m2 > 59 || start > 1439 || end > 1440 || end <= start) return null;
      ranges.push([start, end]);
    }
    return merge(ranges);
  }

  function merge(ranges) {
    ranges = ranges.slice().sort(function (a, b) { return a[0] - b[0]; });
    var out = [];
    ranges.forEach(function (r) {
      var last = out[out.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else out.push([r[0], r[1]]);
    });
    return out;
  }

  function format(ranges) {
    return ranges
      .map(function (r) { return hhmm(r[0]) + "-" + hhmm(r[1]); })
      .join(", ");
  }

  // "on" (the whole hour), "mixed" (part of it) or "off".
  function hourState(ranges, hour) {
    var lo = hour * 60, hi = lo + 60, covered = 0;
    ranges.forEach(function (r) {
      covered += Math.max(0, Math.min(hi, r[1]) - Math.max(lo, r[0]));
    });
    return covered >= 60 ? "on" : covered > 0 ? "mixed" : "off";
  }

  function setHour(ranges, hour, on) {
    var lo = hour * 60, hi = lo + 60;
    if (on) return merge(ranges.concat([[lo, hi]]));
    var out = [];
    ranges.forEach(function (r) {
      if (r[1] <= lo || r[0] >= hi) out.push(r);
      else {
        if (r[0] < lo) out.push([r[0], lo]);
        if (r[1] > hi) out.push([hi, r[1]]);
      }
    });
    return out;
  }

  /* ------------------------------------------------------------ */
  /* The grid                                                      */
  /* ------------------------------------------------------------ */

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var wrapper = el("div", { class: "avail-grid-wrap" });
  var help = el(
    "p",
    { id: "avail-grid-help", class: "muted small" },
    "Hours in " + timezone + ". Click or drag across hours to switch them on or off. " +
      "With the keyboard: arrow keys move, Space or Enter switches an hour, " +
      "Shift with an arrow key carries the same choice to the next hour."
  );
  var now = el("p", { class: "small", id: "avail-now" });
  var table = el("table", {
    class: "avail-grid",
    role: "grid",
    "aria-labelledby": "avail-h",
    "aria-describedby": "avail-grid-help",
  });
  var caption = el("caption", { class: "sr-only" }, "Weekly availability by hour, " + timezone);
  table.appendChild(caption);
  var head = el("thead");
  var headRow = el("tr");
  headRow.appendChild(el("th", { scope: "col" }, "Day"));
  for (var h = 0; h < 24; h++) {
    var th = el("th", { scope: "col", abbr: pad(h) + ":00" });
    th.appendChild(el("span", { "aria-hidden": "true" }, pad(h)));
    th.appendChild(el("span", { class: "sr-only" }, pad(h) + ":00"));
    headRow.appendChild(th);
  }
  head.appendChild(headRow);
  table.appendChild(head);
  var body = el("tbody");
  var cells = []; // cells[day][hour] = button
  DAYS.forEach(function (name, day) {
    var row = el("tr");
    row.appendChild(el("th", { scope: "row" }, name));
    cells.push([]);
    for (var hour = 0; hour < 24; hour++) {
      var td = el("td", { role: "gridcell" });
      var button = el("button", {
        type: "button",
        class: "avail-cell",
        tabindex: "-1",
        "data-day": String(day),
        "data-hour": String(hour),
        "aria-label": name + " " + pad(hour) + ":00 to " + (hour === 23 ? "24:00" : pad(hour + 1) + ":00"),
        "aria-pressed": "false",
      });
      td.appendChild(button);
      row.appendChild(td);
      cells[day].push(button);
    }
    body.appendChild(row);
  });
  table.appendChild(body);

  var legend = el(
    "p",
    { class: "small muted avail-legend" },
    "\u2713 the whole hour \u00b7 \u2248 part of the hour (exact minutes below) \u00b7 empty: not available"
  );
  var live = el("p", { class: "sr-only", "aria-live": "polite", id: "avail-live" });
  var tools = el("div", { class: "cluster" });
  var copyWeekdays = el("button", { type: "button", class: "secondary outline small" }, "Copy Monday to Tuesday\u2013Friday");
  var clearAll = el("button", { type: "button", class: "secondary outline small" }, "Clear the whole week");
  tools.appendChild(copyWeekdays);
  tools.appendChild(clearAll);

  wrapper.appendChild(help);
  wrapper.appendChild(now);
  var scroller = el("div", { class: "table-wrap" });
  scroller.appendChild(table);
  wrapper.appendChild(scroller);
  wrapper.appendChild(legend);
  wrapper.appendChild(tools);
  wrapper.appendChild(live);

  // The text fields move into a disclosure: still there for exact minutes and without errors
  // hidden (it opens itself when the server sent one back).
  var details = el("details", { class: "avail-text" });
  var summary = el("summary", {}, "Exact times as text (minutes, several windows a day)");
  details.appendChild(summary);
  textBlock.parentNode.insertBefore(wrapper, textBlock);
  textBlock.parentNode.insertBefore(details, textBlock);
  details.appendChild(textBlock);
  if (textBlock.querySelector(".errorlist")) details.open = true;

  /* ------------------------------------------------------------ */
  /* State                                                         */
  /* ------------------------------------------------------------ */

  var days = inputs.map(function (input) { return parse(input.value) || []; });

  function paintDay(day) {
    var parsed = parse(inputs[day].value);
    var invalid = parsed === null;
    if (!invalid) days[day] = parsed;
    cells[day].forEach(function (button, hour) {
      var state = hourState(days[day], hour);
      button.setAttribute("aria-pressed", state === "on" ? "true" : state === "mixed" ? "mixed" : "false");
      // Not `disabled`: the cell must stay focusable for the arrow keys.
      if (invalid) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
    });
    var row = cells[day][0].closest("tr");
    row.classList.toggle("avail-invalid", invalid);
    row.title = invalid ? "Fix the text for " + DAYS[day] + " below to use the grid" : "";
  }

  function writeDay(day, ranges) {
    days[day] = ranges;
    inputs[day].value = format(ranges);
    paintDay(day);
  }

  function announce(day) {
    var text = inputs[day].value;
    live.textContent = DAYS[day] + ": " + (text ? text : "not available");
  }

  function toggle(button, on) {
    var day = +button.getAttribute("data-day"), hour = +button.getAttribute("data-hour");
    if (button.getAttribute("aria-disabled") === "true") return null;
    if (on === undefined) on = button.getAttribute("aria-pressed") !== "true";
    writeDay(day, setHour(days[day], hour, on));
    return on;
  }

  DAYS.forEach(function (_, day) { paintDay(day); });
  inputs.forEach(function (input, day) {
    input.addEventListener("input", function () { paintDay(day); });
  });

  /* Keyboard: roving tabindex ----------------------------------- */

  var focusDay = 0, focusHour = 9;
  function setFocusable(day, hour, move) {
    cells[focusDay][focusHour].setAttribute("tabindex", "-1");
    focusDay = day;
    focusHour = hour;
    var button = cells[day][hour];
    button.setAttribute("tabindex", "0");
    if (move) button.focus();
  }
  setFocusable(0, 9, false);

  table.addEventListener("keydown", function (event) {
    var button = event.target.closest(".avail-cell");
    if (!button) return;
    var day = +button.getAttribute("data-day"), hour = +button.getAttribute("data-hour");
    var next = null;
    switch (event.key) {
      case "ArrowRight": next = [day, Math.min(23, hour + 1)]; break;
      case "ArrowLeft": next = [day, Math.max(0, hour - 1)]; break;
      case "ArrowDown": next = [Math.min(6, day + 1), hour]; break;
      case "ArrowUp": next = [Math.max(0, day - 1), hour]; break;
      case "Home": next = event.ctrlKey ? [0, 0] : [day, 0]; break;
      case "End": next = event.ctrlKey ? [6, 23] : [day, 23]; break;
      default:
        return;
    }
    event.preventDefault();
    if (event.shiftKey && event.key.indexOf("Arrow") === 0) {
      var on = button.getAttribute("aria-pressed") === "true";
      toggle(cells[next[0]][next[1]], on);
      announce(next[0]);
    }
    setFocusable(next[0], next[1], true);
  });

  table.addEventListener("focusin", function (event) {
    var button = event.target.closest(".avail-cell");
    if (button) setFocusable(+button.getAttribute("data-day"), +button.getAttribute("data-hour"), false);
  });

  /* Pointer: press and drag ------------------------------------- */

  var painting = null; // true / false while dragging, the state being painted
  var pressed = null; // the cell the pointer went down on: its click is already handled
  table.addEventListener("pointerdown", function (event) {
    var button = event.target.closest(".avail-cell");
    if (!button || event.button !== 0) return;
    event.preventDefault(); // no text selection while dragging
    // Touch pointers are captured by the cell they start on: release, so others see the drag.
    if (button.hasPointerCapture && button.hasPointerCapture(event.pointerId)) {
      button.releasePointerCapture(event.pointerId);
    }
    button.focus();
    pressed = button;
    painting = toggle(button);
    announce(+button.getAttribute("data-day"));
  });
  table.addEventListener("pointerover", function (event) {
    if (painting === null) return;
    var button = event.target.closest(".avail-cell");
    if (!button || button.getAttribute("aria-pressed") === String(painting)) return;
    toggle(button, painting);
  });
  document.addEventListener("pointerup", function () { painting = null; });
  document.addEventListener("pointercancel", function () { painting = null; });
  // Space, Enter and assistive technology arrive as a click; a click that follows the
  // pointerdown on the same cell was handled there.
  table.addEventListener("click", function (event) {
    var button = event.target.closest(".avail-cell");
    if (!button) return;
    if (button === pressed) {
      pressed = null;
      return;
    }
    pressed = null;
    if (toggle(button) !== null) announce(+button.getAttribute("data-day"));
  });

  /* Tools ---------------------------------------------------------- */

  copyWeekdays.addEventListener("click", function () {
    for (var day = 1; day <= 4; day++) writeDay(day, days[0].slice());
    live.textContent = "Monday's hours copied to Tuesday to Friday.";
  });
  clearAll.addEventListener("click", function () {
    DAYS.forEach(function (_, day) { writeDay(day, []); });
    live.textContent = "The whole week is cleared. Save to keep it.";
  });

  /* The expert's own clock ------------------------------------------ */

  function showNow() {
    var parts;
    try {
      parts = new Intl.DateTimeFormat("en-GB", {
        timeZone: timezone,
        weekday: "long",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).formatToParts(new Date());
    } catch (e) {
      return;
    }
    var get = function (type) {
      var part = parts.find(function (p) { return p.type === type; });
      return part ? part.value : "";
    };
    var day = DAYS.indexOf(get("weekday")), hour = +get("hour") % 24;
    now.textContent = "It is now " + get("weekday") + " " + get("hour") + ":" + get("minute") + " in " + timezone + ".";
    table.querySelectorAll(".avail-cell.is-now").forEach(function (b) { b.classList.remove("is-now"); });
    if (day >= 0) cells[day][hour].classList.add("is-now");
  }
  showNow();
  setInterval(showNow, 60 * 1000);
})();
