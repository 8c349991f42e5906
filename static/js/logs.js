// Deployment logs (#logs on the deployment page).
// - "Show" fetches the logs once, with the form's filters, as text/plain.
// - With "follow live" ticked, "Show" opens a server-sent event stream instead. While it is
//   open the button reads "Stop following" and submitting the form (the button, or Enter in
//   a field) stops it. The stream never reconnects by itself: a reconnect would replay the
//   tail, so when it ends or breaks the status says so and "Show" starts it again.
// - The Download link always carries the form's current filters (never follow).
// Each line is a <span class="line">, with class "stderr" for the container's stderr; at
// most MAX_LINES stay in the page. New lines scroll into view only if the reader was at the
// bottom.
(function () {
  "use strict";

  var MAX_LINES = 5000;
  var TIMEOUT_MS = 60000; // a fetch of the logs that takes longer is abandoned
  // A line of the text output: optional "web-0 | ", optional timestamp, then "[stderr] ".
  var STDERR_LINE = /^(?:\S+ \| )?(?:\d{4}-\d\d-\d\dT\S+ )?\[stderr\] /;

  function init() {
    var section = document.getElementById("logs");
    var form = document.getElementById("logs-form");
    var out = document.getElementById("logs-output");
    var status = document.getElementById("logs-status");
    var download = document.getElementById("logs-download");
    if (!section || !section.dataset.url || !form || !out || !status) return;
    var base = section.dataset.url;
    var button = form.querySelector("button[type=submit], button:not([type])");
    var buttonLabel = button ? button.textContent : "";
    var source = null; // the EventSource while following
    var request = null; // the AbortController of a running fetch
    var pending = []; // followed lines not yet in the page
    var frame = 0;

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", !!isError);
    }

    // The form's non-empty fields (FormData holds checkboxes only when they are checked).
    function params(withFollow) {
      var p = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (name === "follow" && !withFollow) return;
        if (typeof value === "string" && value.trim() !== "") p.append(name, value.trim());
      });
      return p;
    }

    function updateDownload() {
      if (!download) return;
      var p = params(false);
      p.append("download", "true");
      download.href = base + "?" + p;
    }

    function lineSpan(text, isStderr) {
      var span = document.createElement("span");
      span.className = isStderr ? "line stderr" : "line";
      span.textContent = text + "\n";
      return span;
    }

    function atBottom() {
      return out.scrollHeight - out.scrollTop - out.clientHeight < 4;
    }

    function trim() {
      while (out.childElementCount > MAX_LINES) out.firstElementChild.remove();
    }

    // Followed lines are added once per animation frame, not one layout per line.
    function flush() {
      frame = 0;
      var follow = atBottom();
      var fragment = document.createDocumentFragment();
      pending.forEach(function (span) { fragment.appendChild(span); });
      pending = [];
      out.appendChild(fragment);
      trim();
      if (follow) out.scrollTop = out.scrollHeight;
    }

    function setFollowing(on) {
      if (button) button.textContent = on ? "Stop following" : buttonLabel;
    }

    function stop() {
      if (source) source.close();
      source = null;
      if (request) request.abort();
      request = null;
      setFollowing(false);
    }

    // The message of an error answer: {"error":{"message":…}} or {"message":…}.
    function errorMessage(res) {
      return res.text().then(function (body) {
        try {
          var json = JSON.parse(body);
          var message = (json.error && json.error.message) || json.message;
          if (message) return message;
        } catch (e) { /* not JSON */ }
        return "the server answered " + res.status + " " + res.statusText;
      });
    }

    function show() {
      var query = params(false).toString();
      var controller = new AbortController();
      request = controller;
      var timer = setTimeout(function () {
        controller.abort();
        say("The server did not answer in time.", true);
      }, TIMEOUT_MS);
      say("Loading…");
      fetch(base + (query ? "?" + query : ""), {
        headers: { Accept: "text/plain" }, credentials: "same-origin", signal: controller.signal
      }).then(function (res) {
        if (!res.ok) return errorMessage(res).then(function (m) { say(m, true); });
        return res.text().then(function (text) {
          var lines = text.split("\n");
          if (lines[lines.length - 1] === "") lines.pop();
          var kept = lines.slice(-MAX_LINES);
          var fragment = document.createDocumentFragment();
          kept.forEach(function (l) { fragment.appendChild(lineSpan(l, STDERR_LINE.test(l))); });
          out.replaceChildren(fragment);
          out.scrollTop = out.scrollHeight;
          var count = lines.length === 1 ? "1 line" : lines.length + " lines";
          if (kept.length < lines.length) count += " (the last " + kept.length + " shown; Download has all)";
          say(count);
        });
      }).catch(function (e) {
        if (e.name !== "AbortError") say("The logs could not be loaded: " + e.message, true);
      }).finally(function () {
        clearTimeout(timer);
        if (request === controller) request = null;
      });
    }

    function follow() {
      var p = params(false);
      p.set("follow", "true");
      pending = [];
      out.replaceChildren();
      say("Following the logs live…");
      setFollowing(true);
      var es = new EventSource(base + "?" + p);
      source = es;
      es.addEventListener("line", function (msg) {
        var d = JSON.parse(msg.data);
        var text = (d.c ? d.c + " | " : "") + (d.t ? d.t + " " : "") + d.l;
        pending.push(lineSpan(text, d.s === "stderr"));
        if (pending.length > MAX_LINES) pending.splice(0, pending.length - MAX_LINES);
        if (!frame) frame = requestAnimationFrame(flush);
      });
      es.addEventListener("problem", function (msg) {
        say(JSON.parse(msg.data).message, true);
      });
      es.addEventListener("end", function (msg) {
        var reason = JSON.parse(msg.data).reason;
        stop();
        say("The log stream ended" + (reason ? ": " + reason : "."));
      });
      es.addEventListener("error", function () {
        if (source !== es) return;
        var closed = es.readyState === EventSource.CLOSED;
        stop();
        say(closed ? "the log stream closed" : "the log stream was interrupted", true);
        // An EventSource cannot read a refusal's body: ask once more, plainly, to say why.
        p.delete("follow");
        p.set("tail", "0");
        fetch(base + "?" + p, { headers: { Accept: "text/plain" }, credentials: "same-origin" }).then(function (res) {
          if (!res.ok) return errorMessage(res).then(function (m) { say(m, true); });
        }).catch(function () { /* the first message stands */ });
      });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (source) { stop(); say("Stopped following."); return; }
      stop();
      var followBox = form.elements.namedItem("follow");
      if (followBox && followBox.checked && window.EventSource) follow(); else show();
    });
    form.addEventListener("input", updateDownload);
    form.addEventListener("change", updateDownload);
    updateDownload();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
