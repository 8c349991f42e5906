// Live deployment page: appends server-sent history entries to the list, sets the status badge
// from each `changed` event (label and tone come from the server: this script maps no status
// word), and redraws the parts of the page marked `data-live` (the head with its alerts; the
// containers, details, lease and actions; the history) from the page itself, fetched again
// after each event. A part is redrawn only when it changed, and never while it holds the focus
// or a value someone chose (it is redrawn once they leave it). Sections that start scripts of
// their own (logs, live use) appearing or going, or a stream that fell behind, load the whole
// page again; a signed-out user goes where the server sends them. Without a stream (refused, or
// closed for good) the page is read every 5 s instead.
(function () {
  var first = document.getElementById("history");
  var cards = document.getElementById("deployment-cards");
  if (!first || !first.dataset.source || !cards || !window.EventSource || !window.fetch) return;
  var page = cards.dataset.page;
  var source = new EventSource(first.dataset.source);
  var timer = null;
  var pending = false;
  var seq = 0;
  var opened = 0;

  function typing() {
    var a = document.activeElement;
    return !!(a && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName));
  }

  // Whether a part holds the focus or a value that differs from the one drawn.
  function held(part) {
    var a = document.activeElement;
    if (a && a !== document.body && part.contains(a)) return true;
    return Array.prototype.some.call(part.querySelectorAll("input, select, textarea"), function (f) {
      if (f.type === "hidden") return false;
      if (f.tagName === "SELECT") {
        // Drawn without a `selected` option, a select shows its first.
        var drawn = -1;
        Array.prototype.forEach.call(f.options, function (o, i) {
          if (o.defaultSelected && drawn < 0) drawn = i;
        });
        return f.selectedIndex !== Math.max(drawn, 0);
      }
      if (f.type === "checkbox" || f.type === "radio") return f.checked !== f.defaultChecked;
      return f.value !== f.defaultValue;
    });
  }

  function scripted(doc) {
    return [!!doc.getElementById("logs"), !!doc.getElementById("stats")].join();
  }

  function redraw() {
    timer = null;
    var mine = ++seq;
    fetch(page, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (mine !== seq) return null;
        if (res.redirected || res.status === 401 || res.status === 403 || res.status === 404) {
          // Signed out (the login page), or the deployment is no longer this user's to see.
          source.close();
          window.location.assign(res.redirected ? res.url : page);
          return null;
        }
        if (!res.ok) return null; // The next event, or the next look, tries again.
        return res.text();
      })
      .then(function (html) {
        if (html === null || mine !== seq) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (scripted(doc) !== scripted(document)) {
          if (typing()) {
            pending = true;
            return;
          }
          source.close();
          window.location.replace(page);
          return;
        }
        document.querySelectorAll("[data-live]").forEach(function (part) {
          var next = part.id && doc.getElementById(part.id);
          if (!next || next.innerHTML === part.innerHTML) return;
          if (held(part)) {
            pending = true;
            return;
          }
          part.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () {
        // The page could not be read now: the next event tries again.
      });
  }

  function soon() {
    pending = false;
    if (!timer) timer = setTimeout(redraw, 250);
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      if (pending) soon();
    }, 0);
  });

  source.addEventListener("open", function () {
    // After a reconnection, entries of the gap are missing: the page has them.
    opened += 1;
    if (opened > 1) soon();
  });

  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setInterval(soon, 5000);
    }
  });

  source.addEventListener("history", function (msg) {
    var e = JSON.parse(msg.data);
    var list = document.getElementById("history");
    if (list) {
      var li = document.createElement("li");
      li.className = "tl-" + e.tone;
      var time = document.createElement("time");
      time.dateTime = e.at;
      time.textContent = new Date(e.at).toISOString().substring(0, 19).replace("T", " ");
      var badge = document.createElement("span");
      badge.className = "status status-" + e.tone;
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
    }
    soon();
  });

  source.addEventListener("changed", function (msg) {
    var s = JSON.parse(msg.data || "{}");
    if (s.lagged) {
      // Entries were missed: the whole page shows them.
      source.close();
      window.location.replace(page);
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
