// Web console (the console page): an xterm.js terminal wired to a WebSocket.
// Needs the vendored /static/vendor/xterm/xterm.js (global `Terminal`) and addon-fit.js
// (global `FitAddon.FitAddon`), loaded before this script.
// Protocol, sub-protocols "wharf.console" and "wharf.csrf.<token>" (the CSRF token never goes
// in the URL):
//   client -> server  binary: keystrokes (UTF-8)   text: {"resize":[cols,rows]}
//   server -> client  binary: terminal output      text: {"status":"open","container":…},
//                                                        {"error":…} or {"closed":…}
// The session never reconnects by itself: once closed, the #console-reconnect button (made
// here when the page has none) reloads the page for a new session.
(function () {
  "use strict";

  var RESIZE_DELAY_MS = 150;

  function init() {
    var box = document.getElementById("terminal");
    var status = document.getElementById("console-status");
    if (!box || !box.dataset.ws || !status) return;

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", !!isError);
    }

    if (typeof window.Terminal !== "function" || !window.FitAddon || !window.WebSocket) {
      say("The terminal could not start: its script did not load or the browser is too old.", true);
      return;
    }

    var term = new window.Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000 });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    term.focus();

    var again = document.getElementById("console-reconnect");
    if (!again) {
      again = document.createElement("button");
      again.type = "button";
      again.className = "btn";
      again.id = "console-reconnect";
      again.textContent = "Reconnect";
      status.insertAdjacentElement("afterend", again);
    }
    again.hidden = true;
    again.addEventListener("click", function () { window.location.reload(); });

    var url = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + box.dataset.ws;
    var ws = new WebSocket(url, ["wharf.console", "wharf.csrf." + (box.dataset.csrf || "")]);
    ws.binaryType = "arraybuffer";
    var encoder = new TextEncoder();
    var closedReason = ""; // from the server's last {"closed":…}

    function send(data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(data);
    }

    function fitAndReport() {
      fit.fit();
      send(JSON.stringify({ resize: [term.cols, term.rows] }));
    }

    term.onData(function (data) { send(encoder.encode(data)); });
    // onBinary gives a string of byte values (0..255), e.g. some mouse reports.
    term.onBinary(function (data) {
      var bytes = new Uint8Array(data.length);
      for (var i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      send(bytes);
    });

    var resizeTimer = 0;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(fitAndReport, RESIZE_DELAY_MS);
    });

    say("Connecting…");
    ws.addEventListener("open", function () {
      fitAndReport();
      say("Connected, waiting for the container…");
    });

    ws.addEventListener("message", function (ev) {
      if (typeof ev.data !== "string") {
        term.write(new Uint8Array(ev.data));
        return;
      }
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.status === "open") {
        say("connected to " + msg.container);
      } else if (msg.error) {
        say(msg.error, true);
        term.write("\r\n\x1b[31m" + msg.error + "\x1b[0m\r\n");
      } else if (msg.closed) {
        closedReason = msg.closed;
      }
    });

    ws.addEventListener("close", function (ev) {
      var reason = ev.reason || closedReason ||
        (ev.code === 1000 ? "the session ended" : "the connection was lost (code " + ev.code + ")");
      // Still marked as an error after an error message or an unclean close.
      say("session closed: " + reason, status.classList.contains("error") || !ev.wasClean);
      term.write("\r\n\x1b[2m[session closed: " + reason + "]\x1b[0m\r\n");
      term.options.disableStdin = true;
      term.options.cursorBlink = false;
      again.hidden = false;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
