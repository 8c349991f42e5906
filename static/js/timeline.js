// Live request timeline: appends server-sent events to the list, no reload.
(function () {
  var list = document.getElementById("timeline");
  if (!list || !list.dataset.live || !window.EventSource) return;
  var source = new EventSource(list.dataset.source);
  source.addEventListener("timeline", function (msg) {
    var e = JSON.parse(msg.data);
    var li = document.createElement("li");
    li.className = "tl-" + e.kind;
    var time = document.createElement("time");
    time.textContent = new Date(e.at).toISOString().substring(11, 19);
    var chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = e.kind;
    li.appendChild(time);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(chip);
    li.appendChild(document.createTextNode(" " + e.message));
    list.appendChild(li);
  });
  source.addEventListener("status", function (msg) {
    var s = JSON.parse(msg.data).status;
    var badge = document.getElementById("request-status");
    if (badge) {
      badge.textContent = s;
      badge.className = "status status-" + s;
    }
    if (["pending_approval", "approved", "provisioning"].indexOf(s) < 0) {
      source.close();
      var note = document.getElementById("live-note");
      if (note) note.textContent = "The request is " + s + ". Reload for its deployment.";
    }
  });
})();
