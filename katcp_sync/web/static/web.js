/* katcp-sync web: the live sensor page.
 *
 * Reads the server's event stream (events: snapshot, device, update; see
 * katcp_sync/web.py). Readings are coalesced: each update only stores the
 * latest row per sensor, and the table is written once per animation frame,
 * so a fast device never queues work in the page. Numeric sensors keep a
 * short history (thinned to one point per history_step seconds) drawn as a
 * small plot for the rows on screen, twice a second.
 */
"use strict";
(function () {
  var main = document.getElementById("devices");
  var streamBadge = document.getElementById("stream");
  var filterBox = document.getElementById("filter");
  var regexBox = document.getElementById("regex");
  var filterError = document.getElementById("filter-error");

  var sensors = {};        // sensor id -> {row, cells, numeric, history, name}
  var devices = {};        // device id -> {section, banner parts, tbody, ...}
  var pending = {};        // sensor id -> newest row not yet shown
  var framePending = false;
  var clockOffset = 0;     // browser clock minus server clock, seconds
  var historySeconds = 300, historyStep = 0.5;
  var allowRequests = false;
  var matcher = function () { return true; };
  var visible = new Set();  // rows on screen: shown at once; others catch up a few per frame
  var behind = new Set();   // ids of sensors whose off-screen row shows an older reading
  var CATCH_UP_PER_FRAME = 100;
  var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      var s = e.target.sensor;
      if (e.isIntersecting) {
        visible.add(e.target);
        if (behind.has(s.id)) { behind.delete(s.id); showRow(s.latest); }
        drawPlot(s);
      } else {
        visible.delete(e.target);
      }
    });
  }) : null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function pad(n, width) { n = String(n); while (n.length < width) { n = "0" + n; } return n; }

  function formatTime(ts, withDate) {
    if (ts === null || ts === undefined) { return "-"; }
    var d = new Date(ts * 1000);
    var time = pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" + pad(d.getSeconds(), 2);
    if (!withDate) { return time; }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1, 2) + "-" + pad(d.getDate(), 2) + " " +
      time + "." + pad(d.getMilliseconds(), 3);
  }

  function serverNow() { return Date.now() / 1000 - clockOffset; }

  // -- readings --------------------------------------------------------------

  function showRow(r) {
    var s = sensors[r[0]];
    if (!s) { return; }
    var text = r[1];
    if (s.type === "timestamp" && r[4] !== null && r[1] !== "") { text = formatTime(r[4], true); }
    s.cells.value.textContent = text;
    s.cells.value.title = r[1];
    s.cells.status.textContent = r[2];
    s.cells.status.className = "status st-" + r[2];
    s.cells.timestamp.textContent = formatTime(r[3], true);
    s.row.setAttribute("data-status", r[2]);
  }

  function addPoint(s, t, v) {
    var h = s.history;
    if (h.length && t - h[h.length - 1][0] < historyStep) {
      h[h.length - 1][1] = v;
    } else {
      h.push([t, v]);
    }
    var cut = 0;      // keep the newest point before the window (it holds at its start)
    while (cut + 1 < h.length && h[cut + 1][0] <= t - historySeconds) { cut++; }
    if (cut) { h.splice(0, cut); }
  }

  function onUpdate(data) {
    var rows = data.rows;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      pending[r[0]] = r;
      var s = sensors[r[0]];
      if (s && s.numeric && r[4] !== null) { addPoint(s, data.now, r[4]); }
    }
    if (!framePending) {
      framePending = true;
      requestAnimationFrame(flush);
    }
  }

  function flush() {
    framePending = false;
    var shown = pending;
    pending = {};
    for (var id in shown) {
      var s = sensors[id];
      if (!s) { continue; }
      s.latest = shown[id];
      if (!observer || visible.has(s.row)) { showRow(s.latest); behind.delete(s.id); }
      else { behind.add(s.id); }
    }
    // Off-screen rows are written too (the page stays searchable and
    // readable), but only so many per frame: a long table never stalls it.
    var count = 0;
    behind.forEach(function (sid) {
      if (count < CATCH_UP_PER_FRAME) {
        count++;
        behind.delete(sid);
        if (sensors[sid]) { showRow(sensors[sid].latest); }
      }
    });
    if (behind.size && !framePending) {
      framePending = true;
      requestAnimationFrame(flush);
    }
  }

  // -- plots -------------------------------------------------------------------

  function drawPlot(s) {
    if (!s || !s.canvas) { return; }
    var canvas = s.canvas, ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 160, h = canvas.clientHeight || 26;
    if (canvas.width !== Math.round(w * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var now = serverNow(), start = now - historySeconds, points = s.history;
    // The newest point before the window still holds at its start.
    var first = 0;
    while (first + 1 < points.length && points[first + 1][0] <= start) { first++; }
    var lo = Infinity, hi = -Infinity, i;
    for (i = first; i < points.length; i++) {
      lo = Math.min(lo, points[i][1]);
      hi = Math.max(hi, points[i][1]);
    }
    if (lo === Infinity) { return; }
    if (hi === lo) { hi += 1; lo -= 1; }
    var x = function (t) { return (Math.max(t, start) - start) / historySeconds * (w - 2) + 1; };
    var y = function (v) { return h - 3 - (v - lo) / (hi - lo) * (h - 6); };
    ctx.beginPath();
    var lastY = y(points[first][1]);
    ctx.moveTo(x(points[first][0]), lastY);
    for (i = first + 1; i < points.length; i++) {
      var px = x(points[i][0]), py = y(points[i][1]);
      ctx.lineTo(px, lastY);
      ctx.lineTo(px, py);
      lastY = py;
    }
    ctx.lineTo(x(now), lastY);
    ctx.strokeStyle = "#1f5fa8";
    ctx.lineWidth = 1.2;
    ctx.stroke();
    canvas.title = "last " + Math.round(historySeconds / 60) + " min: " + lo + " .. " + hi;
  }

  setInterval(function () {
    visible.forEach(function (row) { if (row.sensor.canvas) { drawPlot(row.sensor); } });
  }, 500);

  // -- devices -----------------------------------------------------------------

  function bannerText(d, info) {
    d.section.className = "device state-" + info.state;
    d.state.textContent = info.state;
    var since = info.state === "lost" ? "since " + formatTime(info.since) + ", retrying"
      : "since " + formatTime(info.since);
    var reconnects = Math.max(0, info.connects - 1);
    d.detail.textContent = since + (info.connects ? " \u00b7 reconnects: " + reconnects : "");
    d.count.textContent = info.sensors.length + (info.sensors.length === 1 ? " sensor" : " sensors");
  }

  function makeDevice(info) {
    var section = el("section", "device");
    section.id = "device-" + info.id;
    var banner = el("div", "banner");
    var d = {section: section, state: el("span", "state"), detail: el("span", "detail"),
             count: el("span", "count")};
    banner.appendChild(el("span", "address", info.address));
    banner.appendChild(d.state);
    banner.appendChild(d.detail);
    banner.appendChild(d.count);
    section.appendChild(banner);
    var table = el("table");
    var head = el("tr");
    ["name", "value", "units", "status", "timestamp", "history"].forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    table.appendChild(el("thead")).appendChild(head);
    d.tbody = table.appendChild(el("tbody"));
    section.appendChild(table);
    d.empty = section.appendChild(el("div", "empty", "no sensors yet"));
    if (allowRequests) { makeRequestPanel(d, info); }
    return d;
  }

  function makeSensorRow(s, info) {
    var row = el("tr");
    var name = el("td", "name", info.name);
    name.title = info.description + (info.type ? " (" + info.type + ")" : "");
    row.appendChild(name);
    s.cells = {value: el("td", "value"), status: el("td", "status"), timestamp: el("td", "timestamp")};
    row.appendChild(s.cells.value);
    row.appendChild(el("td", "units", info.units));
    row.appendChild(s.cells.status);
    row.appendChild(s.cells.timestamp);
    var plot = row.appendChild(el("td", "plot"));
    s.canvas = null;
    if (info.numeric) {
      s.canvas = plot.appendChild(el("canvas"));
      s.canvas.width = 160;
      s.canvas.height = 26;
    }
    row.setAttribute("data-name", info.name);
    row.sensor = s;
    s.row = row;
    return row;
  }

  function onDevice(info) {
    var d = devices[info.id];
    if (!d) {
      d = devices[info.id] = makeDevice(info);
      main.appendChild(d.section);
    }
    bannerText(d, info);
    if (d.requests) { updateRequestPanel(d, info); }
    if (observer) { d.tbody.querySelectorAll("tr").forEach(function (r) { observer.unobserve(r); visible.delete(r); }); }
    var body = el("tbody");
    info.sensors.forEach(function (si) {
      var s = sensors[si.id];
      if (!s) {
        s = sensors[si.id] = {id: si.id, history: [], numeric: si.numeric};
        (si.history || []).forEach(function (p) { s.history.push([p[0], p[1]]); });
      }
      s.name = si.name;
      s.type = si.type;
      s.numeric = si.numeric;
      body.appendChild(makeSensorRow(s, si));
      delete pending[si.id];
      behind.delete(si.id);
      s.latest = si.row;
      showRow(si.row);
      s.row.hidden = !matcher(s.name);
      if (observer) { observer.observe(s.row); }
    });
    d.tbody.parentNode.replaceChild(body, d.tbody);
    d.tbody = body;
    d.empty.hidden = info.sensors.length > 0;
  }

  function onSnapshot(snap) {
    clockOffset = Date.now() / 1000 - snap.now;
    historySeconds = snap.history_seconds;
    historyStep = snap.history_step;
    allowRequests = snap.allow_requests;
    sensors = {};
    devices = {};
    pending = {};
    visible.clear();
    behind.clear();
    if (observer) { observer.disconnect(); }
    main.textContent = "";
    snap.devices.forEach(onDevice);
    document.body.setAttribute("data-ready", "1");
  }

  // -- filter ------------------------------------------------------------------

  function applyFilter() {
    var text = filterBox.value;
    filterError.textContent = "";
    if (!text) {
      matcher = function () { return true; };
    } else if (regexBox.checked) {
      try {
        var re = new RegExp(text, "i");
        matcher = function (name) { return re.test(name); };
      } catch (e) {
        filterError.textContent = "bad regex: " + e.message;
        return;
      }
    } else {
      var lower = text.toLowerCase();
      matcher = function (name) { return name.toLowerCase().indexOf(lower) >= 0; };
    }
    for (var id in sensors) {
      if (sensors[id].row) { sensors[id].row.hidden = !matcher(sensors[id].name); }
    }
  }
  filterBox.addEventListener("input", applyFilter);
  regexBox.addEventListener("change", applyFilter);

  // -- requests (only with --allow-requests) ----------------------------------

  function makeRequestPanel(d, info) {
    var panel = el("details", "requests");
    panel.appendChild(el("summary", null, "Send a request"));
    var form = panel.appendChild(el("form", "request"));
    var input = form.appendChild(el("input"));
    input.name = "line";
    input.placeholder = "?help   (a request as KATCP text, e.g. ?sensor-value add.result)";
    input.setAttribute("list", "requests-" + info.id);
    form.appendChild(el("button", null, "Send")).type = "submit";
    var list = panel.appendChild(el("datalist"));
    list.id = "requests-" + info.id;
    var reply = panel.appendChild(el("pre", "reply"));
    reply.hidden = true;
    var known = panel.appendChild(el("details", "help"));
    var summary = known.appendChild(el("summary", null, "Requests of this device"));
    var help = known.appendChild(el("ul", "help"));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      reply.hidden = false;
      reply.className = "reply";
      reply.textContent = "waiting for the reply\u2026";
      fetch("api/request", {method: "POST", headers: {"Content-Type": "application/json"},
                            body: JSON.stringify({device: info.id, line: input.value})})
        .then(function (resp) { return resp.json(); })
        .then(function (answer) {
          if (answer.error) {
            reply.className = "reply fail";
            reply.textContent = answer.error;
          } else {
            reply.className = "reply " + (answer.ok ? "ok" : "fail");
            reply.textContent = answer.lines.join("\n");
          }
        })
        .catch(function (err) { reply.className = "reply fail"; reply.textContent = String(err); });
    });
    d.requests = {panel: panel, input: input, list: list, help: help, summary: summary};
    d.section.appendChild(panel);
  }

  function updateRequestPanel(d, info) {
    var r = d.requests;
    r.list.textContent = "";
    r.help.textContent = "";
    r.summary.textContent = "Requests of this device (" + (info.requests || []).length + ")";
    (info.requests || []).forEach(function (req) {
      var option = r.list.appendChild(el("option"));
      option.value = "?" + req[0];
      var item = r.help.appendChild(el("li"));
      item.appendChild(el("code", null, "?" + req[0]));
      item.appendChild(document.createTextNode(" " + req[1]));
      item.title = "click to use";
      item.addEventListener("click", function () { r.input.value = "?" + req[0] + " "; r.input.focus(); });
    });
  }

  // -- the stream -------------------------------------------------------------

  function setStream(state, text) {
    streamBadge.className = "stream stream-" + state;
    streamBadge.textContent = text;
  }

  var source = new EventSource("events");
  source.addEventListener("open", function () { setStream("live", "live"); });
  source.addEventListener("error", function () {
    setStream("lost", "web view unreachable, retrying\u2026");
  });
  source.addEventListener("snapshot", function (ev) { onSnapshot(JSON.parse(ev.data)); });
  source.addEventListener("device", function (ev) { onDevice(JSON.parse(ev.data)); });
  source.addEventListener("update", function (ev) { onUpdate(JSON.parse(ev.data)); });
})();
