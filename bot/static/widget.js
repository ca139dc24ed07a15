/* feedbackbot widget loader: <script src="https://BOT-HOST/widget.js" defer></script>
   Adds a floating button that opens the bot's /widget chat panel in an iframe (served by the bot itself). */
(function () {
  if (window.__feedbackbotWidget) return;
  window.__feedbackbotWidget = true;
  var script = document.currentScript;
  var origin = new URL(script ? script.src : "/widget.js", window.location.href).origin;
  /* The conversation is kept in this (first-party) page's sessionStorage: browsers often block storage inside
     the cross-site panel (Safari ITP, Chromium), and a reload must show the same conversation, not a blank
     panel over a conversation that still waits for an answer. It reaches the panel in the URL fragment, which
     is never sent to any server, and comes back by postMessage from the bot's origin only. */
  var KEY = "feedbackbot:" + origin;
  function remembered() {
    try { return window.sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }
  window.addEventListener("message", function (ev) {
    if (ev.origin !== origin || !ev.data || ev.data.type !== "feedbackbot:conversation") return;
    try {
      if (ev.data.value) window.sessionStorage.setItem(KEY, ev.data.value);
      else window.sessionStorage.removeItem(KEY);
    } catch (e) { /* storage blocked here too: the conversation lasts as long as the page */ }
  });

  function mount() {
    var button = document.createElement("button");
    button.id = "feedbackbot-launcher";
    button.type = "button";
    button.setAttribute("aria-label", "Open feedback chat");
    /* inline SVG icon: renders on machines without an emoji font */
    button.innerHTML = '<svg width="28" height="28" viewBox="0 0 24 24" fill="none" stroke="currentColor" ' +
      'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' +
      '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';
    button.style.cssText = "position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
      "border:none;background:#2563eb;color:#fff;display:flex;align-items:center;justify-content:center;cursor:pointer;z-index:2147483646;" +
      "box-shadow:0 4px 14px rgba(0,0,0,.25)";
    var frame = null;
    button.addEventListener("click", function () {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.id = "feedbackbot-panel";
        frame.title = "Feedback chat";
        var saved = remembered();
        frame.src = origin + "/widget" + (saved ? "#c=" + encodeURIComponent(saved) : "");
        frame.style.cssText = "position:fixed;right:20px;bottom:88px;width:360px;height:520px;max-width:calc(100vw - 40px);" +
          "max-height:calc(100vh - 110px);border:1px solid #d1d5db;border-radius:12px;background:#fff;" +
          "z-index:2147483647;box-shadow:0 8px 30px rgba(0,0,0,.25)";
        document.body.appendChild(frame);
        button.setAttribute("aria-expanded", "true");
      } else {
        var open = frame.style.display !== "none";
        frame.style.display = open ? "none" : "block";
        button.setAttribute("aria-expanded", open ? "false" : "true");
      }
    });
    document.body.appendChild(button);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
