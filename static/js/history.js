// Live deployment page: appends server-sent history entries to the list, sets the status badge
// from each `changed` event (label and tone come from the server: this script maps no status
// word), and redraws the parts of the page marked `data-live` (the head with its alerts; the
// containers, details, lease and actions) from the page itself, fetched again after each
// event. Sections that start scripts of their own (logs, live use) appearing or going, or a
// stream that fell behind, load the whole page again. Nothing is redrawn under someone typing.
(function () {
  var list = document.getElementById("history");
  if (!list || !list.dataset.source || !window.EventSource) return;
  var cards = document.getElementById("deployment-cards");
  var page = cards && cards.dataset.page;
  var source = new EventSource(list.dataset.source);
  var timer = null;
  var pending = false;

  function typing() {
    var a = document.activeElement;
    return !!(a && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName) && a.closest("[data-live]"));
  }

  function scripted(doc) {
    return [!!doc.getElementById("logs"), !!doc.getElementById("stats")].join();
  }

  function redraw() {
    timer = null;
    if (!page) return;
    if (typing()) {
      pending = true;
      return;
    }
    fetch(page, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (!res.ok) throw new Error(res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (scripted(doc) !== scripted(document)) {
          source.close();
          window.location.replace(page);
          return;
        }
        if (typing()) {
          pending = true;
          return;
        }
        document.querySelectorAll("[data-live]").forEach(function (part) {
          var next = part.id && doc.getElementById(part.id);
          if (next) part.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () {
        // The page could not be read now: the next event tries again.
      });
  }

  function soon() {
    if (!timer) timer = setTimeout(redraw, 250);
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      if (pending && !typing()) {
        pending = false;
        soon();
      }
    }, 0);
  });

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
    soon();
  });

  source.addEventListener("changed", function (msg) {
    var s = JSON.parse(msg.data || "{}");
    if (s.lagged) {
      // Entries were missed: the whole page shows them.
      source.close();
      window.location.replace(page || window.location.href);
      return;
    }
    var badge = document.querySelector("#deployment-status .status");
    if (badge && s.status) {
      badge.textContent = s.label;
      badge.className = "status status-" + s.tone;
      badge.dataset.status = s.status;
    }
    soon();
  });
})();
