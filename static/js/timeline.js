// Live request timeline: appends server-sent events to the list, no reload.
(function () {
  var list = document.getElementById("timeline");
  if (!list || !list.dataset.live || !window.EventSource) return;
  var source = new EventSource(list.dataset.source);
  source.addEventListener("timeline", function (msg) {
    var e = JSON.parse(msg.data);
    // Each entry once, whatever the stream sends again (after a reconnection, say).
    if (list.querySelector('li[data-id="' + Number(e.id) + '"]')) return;
    var li = document.createElement("li");
    li.className = "tl-" + e.tone;
    li.dataset.kind = e.kind;
    li.dataset.id = e.id;
    var time = document.createElement("time");
    time.textContent = new Date(e.at).toISOString().substring(11, 19);
    var chip = document.createElement("span");
    chip.className = "status status-" + e.tone;
    chip.textContent = e.label;
    li.appendChild(time);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(chip);
    li.appendChild(document.createTextNode(" " + e.message));
    list.appendChild(li);
  });
  // The server sends the status with its label, its badge tone and whether it is still
  // open: this script maps no status word itself.
  // The server sends the status as soon as a stream opens: a stream that brought none is stuck
  // somewhere on the way (a proxy, a connection limit), and the page looks for itself.
  var heard = false;
  source.addEventListener("status", function (msg) {
    heard = true;
    // The stream works again: the page stops looking for itself.
    if (polling) {
      clearInterval(polling);
      polling = null;
    }
    var s = JSON.parse(msg.data);
    var badge = document.querySelector("#request-status .status");
    if (badge) {
      badge.textContent = s.label;
      badge.className = "status status-" + s.tone;
      badge.dataset.status = s.status;
    }
    // The deployment, once there is one: the link the page shows after a reload.
    if (s.deployment && !document.getElementById("deployment-link")) {
      var p = document.createElement("p");
      var a = document.createElement("a");
      a.id = "deployment-link";
      a.className = "btn";
      a.href = "/deployments/" + encodeURIComponent(s.deployment);
      a.textContent = "Open the deployment";
      p.appendChild(a);
      var note = document.getElementById("live-note");
      list.parentNode.insertBefore(p, note ? note.nextSibling : list.nextSibling);
    }
    // Actions the request no longer allows go (the server drew only those allowed then).
    if (!s.cancellable) {
      var cancel = document.getElementById("cancel-form");
      if (cancel) cancel.remove();
    }
    // A decision form stays (with what was typed) but can no longer be sent, and says why.
    var form = document.getElementById("decide-form");
    if (!s.deciding && form && !form.dataset.closed) {
      form.dataset.closed = "yes";
      form.querySelectorAll("button").forEach(function (b) {
        b.disabled = true;
      });
      var note = document.createElement("p");
      note.className = "alert alert-info";
      note.setAttribute("role", "status");
      note.textContent = "This request no longer waits for a decision: it is " + s.label + ".";
      form.parentNode.insertBefore(note, form);
    }
    if (!s.open) {
      source.close();
      var done = document.getElementById("live-note");
      if (done) done.textContent = "The request is " + s.label + ".";
    }
  });
  // A stream the server refused or ended for good (a cap on live views, a restart): the page
  // looks at itself every 5 s instead, taking its status and timeline from a fresh copy, until
  // the request is no longer live.
  var polling = null;
  function look() {
    fetch(window.location.href, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (res) {
        if (res.redirected || !res.ok) return null;
        return res.text();
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["request-status", "timeline"].forEach(function (id) {
          var now = document.getElementById(id);
          var then = fresh.getElementById(id);
          if (now && then && now.innerHTML !== then.innerHTML) now.innerHTML = then.innerHTML;
        });
        var link = fresh.getElementById("deployment-link");
        if (link && !document.getElementById("deployment-link")) {
          var p = document.createElement("p");
          p.appendChild(document.importNode(link, true));
          list.parentNode.insertBefore(p, list.nextSibling);
        }
        var stillLive = fresh.getElementById("timeline");
        if (stillLive && !stillLive.dataset.live) {
          source.close();
          if (polling) clearInterval(polling);
          polling = null;
        }
      })
      .catch(function () {});
  }
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED && !polling) {
      polling = setInterval(look, 5000);
    }
  });
  setTimeout(function () {
    if (!heard && !polling) polling = setInterval(look, 5000);
  }, 20000);
})();
