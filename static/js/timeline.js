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
    chip.className = "chip";
    chip.textContent = e.label;
    li.appendChild(time);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(chip);
    li.appendChild(document.createTextNode(" " + e.message));
    list.appendChild(li);
  });
  // The server sends the status with its label, its badge tone and whether it is still
  // open: this script maps no status word itself.
  source.addEventListener("status", function (msg) {
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
    if (!s.deciding) {
      ["decide-title", "decide-form"].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) el.remove();
      });
    }
    if (!s.open) {
      source.close();
      var done = document.getElementById("live-note");
      if (done) done.textContent = "The request is " + s.label + ".";
    }
  });
})();
