// Live deployment history: appends server-sent entries to the list; when the deployment's
// status moves, the page reloads to show its containers and the actions open now.
(function () {
  var list = document.getElementById("history");
  if (!list || !list.dataset.source || !window.EventSource) return;
  var source = new EventSource(list.dataset.source);
  source.addEventListener("history", function (msg) {
    var e = JSON.parse(msg.data);
    var li = document.createElement("li");
    var time = document.createElement("time");
    time.dateTime = e.at;
    time.textContent = new Date(e.at).toISOString().substring(0, 19).replace("T", " ");
    var badge = document.createElement("span");
    badge.className = "badge status-" + e.tone;
    badge.textContent = e.label;
    li.appendChild(time);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(badge);
    li.appendChild(document.createTextNode(" " + e.message));
    if (e.request_id) {
      var a = document.createElement("a");
      a.href = "/requests/" + encodeURIComponent(e.request_id);
      a.className = "muted";
      a.textContent = "request";
      li.appendChild(document.createTextNode(" "));
      li.appendChild(a);
    }
    list.appendChild(li);
    var empty = document.getElementById("history-empty");
    if (empty) empty.remove();
  });
  source.addEventListener("changed", function () {
    // Not while someone is typing in a form of the page.
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT")) return;
    source.close();
    window.location.reload();
  });
})();
