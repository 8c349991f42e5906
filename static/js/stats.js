// Live resource charts (#stats on the deployment page). A server-sent event stream brings a
// "sample" of every running container about every 2 s; each container gets a block with
// three small SVG line charts of the last POINTS samples: CPU %, memory against its limit,
// network receive/transmit rate (computed from two consecutive samples, so the first sample
// has none). Styling is CSS only (observe.css): the charts set SVG attributes and classes,
// never a style attribute.
(function () {
  "use strict";

  var POINTS = 60;
  var W = 240, H = 60; // the charts' viewBox
  var SVG = "http://www.w3.org/2000/svg";
  var MIB = 1024 * 1024;

  function svgEl(name, attrs) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }

  function mib(bytes) {
    return (bytes / MIB).toFixed(1);
  }

  function rate(bytesPerSecond) {
    if (bytesPerSecond == null) return "–";
    if (bytesPerSecond < 1024) return Math.round(bytesPerSecond) + " B/s";
    if (bytesPerSecond < MIB) return (bytesPerSecond / 1024).toFixed(1) + " KiB/s";
    return (bytesPerSecond / MIB).toFixed(1) + " MiB/s";
  }

  // A chart: an svg with a <title>, a scale label and one path per series, plus a caption.
  // `series` maps each path's CSS class to the point field it draws.
  function makeChart(parent, series) {
    var figure = document.createElement("figure");
    figure.className = "chart-box";
    var svg = svgEl("svg", { "class": "chart", viewBox: "0 0 " + W + " " + H, role: "img" });
    var title = svgEl("title");
    var scale = svgEl("text", { "class": "chart-scale", x: 2, y: 9 });
    svg.appendChild(title);
    svg.appendChild(svgEl("line", { "class": "chart-axis", x1: 0, y1: H, x2: W, y2: H }));
    var paths = Object.keys(series).map(function (cls) {
      var path = svgEl("path", { "class": cls, fill: "none", "vector-effect": "non-scaling-stroke" });
      svg.appendChild(path);
      return { el: path, field: series[cls] };
    });
    svg.appendChild(scale);
    var caption = document.createElement("figcaption");
    figure.appendChild(svg);
    figure.appendChild(caption);
    parent.appendChild(figure);
    return { svg: svg, title: title, scale: scale, paths: paths, caption: caption };
  }

  // Draws the points against 0..max (newest at the right edge); a missing value breaks the
  // line. The summary of the latest values is the chart's caption and accessible name.
  function draw(chart, points, max, scaleLabel, summary) {
    var step = W / (POINTS - 1);
    var offset = POINTS - points.length;
    chart.paths.forEach(function (p) {
      var d = "", pen = "M";
      points.forEach(function (pt, i) {
        var v = pt[p.field];
        if (v == null) { pen = "M"; return; }
        var y = H - Math.min(v / max, 1) * (H - 2);
        d += pen + ((offset + i) * step).toFixed(1) + " " + y.toFixed(1) + " ";
        pen = "L";
      });
      p.el.setAttribute("d", d.trim());
    });
    chart.scale.textContent = scaleLabel;
    chart.title.textContent = summary;
    chart.svg.setAttribute("aria-label", summary);
    chart.caption.textContent = summary;
  }

  function maxOf(points, fields) {
    var m = 0;
    points.forEach(function (pt) {
      fields.forEach(function (f) { if (pt[f] != null && pt[f] > m) m = pt[f]; });
    });
    return m;
  }

  function makeBlock(container) {
    var el = document.createElement("div");
    el.className = "stats-container";
    var heading = document.createElement("h3");
    el.appendChild(heading);
    return {
      el: el, heading: heading, points: [], last: null,
      cpu: makeChart(el, { "series-cpu": "cpu" }),
      mem: makeChart(el, { "series-limit": "limit", "series-mem": "mem" }),
      net: makeChart(el, { "series-rx": "rx", "series-tx": "tx" })
    };
  }

  function update(block, s, at) {
    var prev = block.last;
    var seconds = prev ? (at - prev.at) / 1000 : 0;
    function perSecond(now, before) {
      var r = (now - before) / seconds;
      return seconds > 0 && r >= 0 ? r : null; // none across a counter reset
    }
    var pt = {
      cpu: typeof s.cpu_percent === "number" ? s.cpu_percent : null, mem: s.memory_bytes, limit: s.memory_limit_bytes || null,
      rx: prev ? perSecond(s.net_rx_bytes, prev.rx) : null,
      tx: prev ? perSecond(s.net_tx_bytes, prev.tx) : null
    };
    block.last = { at: at, rx: s.net_rx_bytes, tx: s.net_tx_bytes };
    block.points.push(pt);
    if (block.points.length > POINTS) block.points.shift();
    var pts = block.points;

    block.heading.textContent = s.container + " · " + s.pids + (s.pids === 1 ? " process" : " processes");

    var cpuMax = Math.max(100, maxOf(pts, ["cpu"]));
    draw(block.cpu, pts, cpuMax, cpuMax.toFixed(0) + " %", "CPU " + (pt.cpu == null ? "–" : pt.cpu.toFixed(1) + " %"));

    var memMax = maxOf(pts, ["mem", "limit"]) * 1.05 || 1;
    draw(block.mem, pts, memMax, mib(memMax) + " MiB", pt.limit
      ? "Memory " + mib(pt.mem) + " / " + mib(pt.limit) + " MiB (used / limit)"
      : "Memory " + mib(pt.mem) + " MiB used, no limit");

    var netMax = Math.max(1024, maxOf(pts, ["rx", "tx"]));
    draw(block.net, pts, netMax, rate(netMax), "Network rx " + rate(pt.rx) + ", tx " + rate(pt.tx) +
      (prev ? "" : " (rates from the next sample)"));
  }

  function init() {
    var section = document.getElementById("stats");
    var status = document.getElementById("stats-status");
    var charts = document.getElementById("stats-charts");
    if (!section || !section.dataset.url || !status || !charts) return;
    if (!window.EventSource) { status.textContent = "Live statistics need a newer browser."; return; }
    var blocks = new Map(); // container name -> block

    // The status is a live region: only say something when it changes.
    function say(text, isError) {
      if (status.textContent !== text) status.textContent = text;
      status.classList.toggle("error", !!isError);
    }

    say("Connecting…");
    var source = new EventSource(section.dataset.url);
    source.addEventListener("sample", function (msg) {
      var data = JSON.parse(msg.data);
      var at = Date.parse(data.at);
      var seen = new Set();
      data.samples.forEach(function (s) {
        seen.add(s.container);
        var block = blocks.get(s.container);
        if (!block) {
          block = makeBlock(s.container);
          blocks.set(s.container, block);
          charts.appendChild(block.el);
        }
        update(block, s, at);
      });
      blocks.forEach(function (block, name) {
        if (!seen.has(name)) { block.el.remove(); blocks.delete(name); }
      });
      say(blocks.size ? "Live" : "No container is running.");
    });
    source.addEventListener("problem", function (msg) {
      say(JSON.parse(msg.data).message, true);
    });
    source.addEventListener("end", function (msg) {
      var reason = JSON.parse(msg.data).reason;
      source.close();
      say("The statistics stream ended" + (reason ? ": " + reason : "."));
    });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) { say("Reconnecting…", true); return; }
      say("The statistics stream closed.", true);
      // An EventSource cannot read a refusal's body: ask once more, plainly, to say why.
      fetch(section.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (res) {
        if (res.ok) return;
        return res.json().then(function (j) {
          if (j && j.error && j.error.message) say("The statistics stream closed: " + j.error.message, true);
        });
      }).catch(function () { /* the first message stands */ });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
