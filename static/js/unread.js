// The header's unread count: asks the API once per page (the count is in X-Unread-Count).
"use strict";
(function () {
  function init() {
    var badge = document.getElementById("unread-count");
    if (!badge || !window.fetch) return;
    fetch("/api/v1/notifications?unread=true", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        var n = parseInt(res.headers.get("X-Unread-Count") || "0", 10);
        if (n > 0) {
          badge.textContent = n > 99 ? "99+" : String(n);
          badge.setAttribute("aria-label", n + " unread");
          badge.hidden = false;
        }
      })
      .catch(function () { /* no count: the link still works */ });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
