/* feedbackbot widget loader: <script src="https://BOT-HOST/widget.js" defer></script>
   Adds a floating button that opens the bot's /widget chat panel in an iframe (served by the bot itself).

   Optional attributes on the script tag (each checked; a bad value is ignored with a console warning):
     data-color="#0f766e"      the header, button and launcher colour (#rgb or #rrggbb)
     data-title="Acme support" the panel's header (default: the business name in the bot's config)
     data-position="left"      the launcher's corner: right (default) or left
     data-lang="de"            the panel's language (en, de, fr, es; the bot's replies stay as written)

   Before it shows anything it asks the bot whether this site may embed the panel (the same list that decides
   CSP frame-ancestors): on a site that is not allowed there is no button, only a console warning. */
(function () {
  if (window.__feedbackbotWidget) return;
  window.__feedbackbotWidget = true;
  var script = document.currentScript;
  var origin = new URL(script ? script.src : "/widget.js", window.location.href).origin;
  var data = (script && script.dataset) || {};

  function warn(msg) { if (window.console) console.warn("feedbackbot widget: " + msg); }
  var options = {};
  if (data.color) { if (/^#(?:[0-9a-fA-F]{3}){1,2}$/.test(data.color)) options.color = data.color; else warn("data-color must be #rgb or #rrggbb"); }
  if (data.title) { if (data.title.length <= 60) options.title = data.title; else warn("data-title is longer than 60 characters"); }
  if (data.lang) { if (/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?$/.test(data.lang)) options.lang = data.lang; else warn("data-lang must be a language tag such as de or pt-BR"); }
  var left = false;
  if (data.position) { if (data.position === "left" || data.position === "right") left = data.position === "left"; else warn("data-position must be left or right"); }
  var LABELS = {en: ["Open feedback chat", "Close feedback chat", "unread reply"],
                de: ["Feedback-Chat öffnen", "Feedback-Chat schließen", "ungelesene Antwort"],
                fr: ["Ouvrir le chat d'avis", "Fermer le chat d'avis", "réponse non lue"],
                es: ["Abrir el chat de opiniones", "Cerrar el chat de opiniones", "respuesta sin leer"]};
  var words = LABELS[(options.lang || "en").slice(0, 2).toLowerCase()] || LABELS.en;

  /* The conversation is kept in this (first-party) page's sessionStorage: browsers often block storage inside
     the cross-site panel (Safari ITP, Chromium), and a reload must show the same conversation, not a blank
     panel over a conversation that still waits for an answer. It reaches the panel in the URL fragment, which
     is never sent to any server, and comes back by postMessage from the bot's origin only. */
  var KEY = "feedbackbot:" + origin;
  function remembered() {
    try { return window.sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }

  function contrastText(hex) {   /* white or near-black on the chosen colour, whichever reads better (WCAG) */
    var h = hex.length === 4 ? hex.replace(/#(.)(.)(.)/, "#$1$1$2$2$3$3") : hex;
    var lum = [1, 3, 5].map(function (i) {
      var c = parseInt(h.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    return (L + 0.05) / 0.05 > 1.05 / (L + 0.05) ? "#111827" : "#ffffff";
  }

  function mount() {
    var color = options.color || "#1d4ed8";
    var side = left ? "left" : "right";
    var style = document.createElement("style");
    style.textContent =
      "#feedbackbot-launcher{position:fixed;" + side + ":20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
      "border:none;background:" + color + ";color:" + contrastText(color) + ";display:flex;align-items:center;" +
      "justify-content:center;cursor:pointer;z-index:2147483646;box-shadow:0 4px 14px rgba(0,0,0,.25);padding:0}" +
      "#feedbackbot-launcher:focus-visible{outline:3px solid #111827;outline-offset:3px}" +
      "#feedbackbot-badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;" +
      "background:#b91c1c;color:#fff;font:600 12px/20px system-ui,sans-serif;text-align:center;padding:0 4px;" +
      "box-sizing:border-box;border:2px solid #fff}" +
      "#feedbackbot-panel{position:fixed;" + side + ":20px;bottom:88px;width:380px;height:560px;" +
      "max-width:calc(100vw - 40px);max-height:calc(100vh - 110px);border:1px solid #d1d5db;border-radius:12px;" +
      "background:#fff;z-index:2147483647;box-shadow:0 8px 30px rgba(0,0,0,.25)}" +
      "#feedbackbot-panel[hidden]{display:none}" +
      /* a phone: the panel is the whole screen (it has its own close button) */
      "@media (max-width:480px){#feedbackbot-panel{left:0;right:0;top:0;bottom:0;width:100%;height:100%;" +
      "max-width:none;max-height:none;border:none;border-radius:0}}";
    document.head.appendChild(style);

    var button = document.createElement("button");
    button.id = "feedbackbot-launcher";
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "feedbackbot-panel");
    /* inline SVG icon: renders on machines without an emoji font */
    button.innerHTML = '<svg width="28" height="28" viewBox="0 0 24 24" fill="none" stroke="currentColor" ' +
      'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' +
      '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';
    var badge = document.createElement("span");
    badge.id = "feedbackbot-badge";
    badge.hidden = true;
    badge.setAttribute("aria-hidden", "true");
    button.appendChild(badge);
    var unread = 0;
    function label() {
      button.setAttribute("aria-label", unread ? words[0] + " (" + unread + " " + words[2] + ")" : words[0]);
    }
    label();

    var frame = null;
    function isOpen() { return !!frame && !frame.hidden; }
    function tell(type) { if (frame && frame.contentWindow) frame.contentWindow.postMessage({type: type}, origin); }
    function open() {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.id = "feedbackbot-panel";
        frame.title = options.title || "Feedback chat";
        var params = ["embed=1"];
        if (options.color) params.push("on=" + encodeURIComponent(contrastText(options.color)));
        ["color", "title", "lang"].forEach(function (k) {
          if (options[k]) params.push(k + "=" + encodeURIComponent(options[k]));
        });
        var saved = remembered();
        if (saved) params.push("c=" + encodeURIComponent(saved));
        frame.src = origin + "/widget#" + params.join("&");
        frame.addEventListener("load", function () { if (isOpen()) tell("feedbackbot:open"); });
        document.body.appendChild(frame);
      } else {
        frame.hidden = false;
        tell("feedbackbot:open");
      }
      frame.focus();
      unread = 0; badge.hidden = true; label();
      button.setAttribute("aria-expanded", "true");
    }
    function close() {
      if (!isOpen()) return;
      frame.hidden = true;
      button.setAttribute("aria-expanded", "false");
      button.focus();              /* focus goes back where it came from */
    }
    button.addEventListener("click", function () { if (isOpen()) close(); else open(); });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && isOpen()) close();
    });
    window.addEventListener("message", function (ev) {
      if (ev.origin !== origin || !ev.data) return;
      if (ev.data.type === "feedbackbot:conversation") {
        try {
          if (ev.data.value) window.sessionStorage.setItem(KEY, ev.data.value);
          else window.sessionStorage.removeItem(KEY);
        } catch (e) { /* storage blocked here too: the conversation lasts as long as the page */ }
      } else if (ev.data.type === "feedbackbot:close") {
        close();
      } else if (ev.data.type === "feedbackbot:reply" && !isOpen()) {
        unread += 1;               /* a reply came while the panel was closed */
        badge.textContent = String(unread);
        badge.hidden = false;
        label();
      }
    });
    document.body.appendChild(button);
  }

  function start() {
    /* Ask first: a site outside the allow-list gets no button (the panel would be a grey, refused frame). */
    fetch(origin + "/api/v1/widget/allowed?origin=" + encodeURIComponent(window.location.origin), {credentials: "omit"})
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (answer && answer.allowed) mount();
        else warn("this site (" + window.location.origin + ") is not in the bot's [server] allowed_origins; " +
                  "the chat button is not shown");
      }, function () { warn("the bot at " + origin + " cannot be reached; the chat button is not shown"); });
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
