/* The widget panel: talks to the bot's JSON API on its own origin. All text goes in via textContent.

   What the customer sees is what the server has (README "What is stored must be true"):
   - one conversation: it is created when the panel first opens (with the bot's greeting), and messages go out
     one at a time, so two quick sends can never start two conversations or get their replies out of order;
   - a reload shows the same conversation again (history is read back from the server), so an open question is
     never answered invisibly;
   - every message carries a client id, so a retry after a network error is stored once;
   - a message the bot refuses (too long, too fast) or that could not be sent goes back into the box, with the
     reason in words;
   - a rating is a state (none / helpful / not helpful) that the server confirms. */
(function () {
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var counter = document.getElementById("counter");
  var status = document.getElementById("status");
  var title = document.getElementById("title");
  var closeButton = document.getElementById("close");
  var API = "/api/v1";
  var KEY = "feedbackbot-conversation";
  var busy = false;
  var lastBotId = null;
  var maxChars = 5000;          /* replaced by the server's limit (GET /api/v1/config) */
  var pending = null;           /* {text, clientId}: the last message that could not be delivered */

  /* --- options from the host page's script tag (widget.js), checked again here ------------------------------- */
  var params = {};
  window.location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
    var i = kv.indexOf("=");
    if (i > 0) { try { params[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); } catch (e) { /* ignore */ } }
  });
  if (window.location.hash) history.replaceState(null, "", window.location.pathname + window.location.search);
  var embedded = window.parent !== window;

  var TEXT = {
    en: {you: "You said:", bot: "Bot said:", typing: "The bot is typing…", send: "Send", placeholder: "Type your message…",
         label: "Your message", close: "Close chat", helpful: "Helpful", notHelpful: "Not helpful", rate: "Rate this reply",
         retry: "Try again", title: "Feedback chat", offline: "Your message was not sent: the chat can't be reached right now. It is back in the box.",
         failed: "Sorry, something went wrong, and your message was not sent. It is back in the box.",
         tooLong: "Your message is {n} characters long; the limit is {max}. Please shorten it.",
         slowDown: "You're sending messages faster than we can read them. Please wait {s} seconds, then send again.",
         busy: "The bot is busy right now. Please try again in a moment.", chars: "{n} of {max} characters",
         ended: "This conversation has ended. Your message is back in the box: send it to start a new one."},
    de: {you: "Sie schrieben:", bot: "Der Bot schrieb:", typing: "Der Bot schreibt…", send: "Senden", placeholder: "Ihre Nachricht…",
         label: "Ihre Nachricht", close: "Chat schließen", helpful: "Hilfreich", notHelpful: "Nicht hilfreich", rate: "Antwort bewerten",
         retry: "Erneut versuchen", title: "Feedback-Chat", offline: "Ihre Nachricht wurde nicht gesendet: Der Chat ist gerade nicht erreichbar. Sie steht wieder im Eingabefeld.",
         failed: "Leider ist etwas schiefgegangen; Ihre Nachricht wurde nicht gesendet. Sie steht wieder im Eingabefeld.",
         tooLong: "Ihre Nachricht hat {n} Zeichen; erlaubt sind {max}. Bitte kürzen Sie sie.",
         slowDown: "Sie senden schneller, als wir lesen können. Bitte warten Sie {s} Sekunden.",
         busy: "Der Bot ist gerade ausgelastet. Bitte versuchen Sie es gleich noch einmal.", chars: "{n} von {max} Zeichen",
         ended: "Diese Unterhaltung ist beendet. Ihre Nachricht steht wieder im Eingabefeld."},
    fr: {you: "Vous avez écrit :", bot: "Le bot a répondu :", typing: "Le bot écrit…", send: "Envoyer", placeholder: "Votre message…",
         label: "Votre message", close: "Fermer le chat", helpful: "Utile", notHelpful: "Pas utile", rate: "Évaluer cette réponse",
         retry: "Réessayer", title: "Chat d'avis", offline: "Votre message n'a pas été envoyé : le chat est injoignable. Il est de retour dans la zone de saisie.",
         failed: "Désolé, une erreur est survenue ; votre message n'a pas été envoyé. Il est de retour dans la zone de saisie.",
         tooLong: "Votre message fait {n} caractères ; la limite est {max}. Merci de le raccourcir.",
         slowDown: "Vous envoyez des messages trop vite. Merci d'attendre {s} secondes.",
         busy: "Le bot est occupé. Merci de réessayer dans un instant.", chars: "{n} sur {max} caractères",
         ended: "Cette conversation est terminée. Votre message est de retour dans la zone de saisie."},
    es: {you: "Usted escribió:", bot: "El bot respondió:", typing: "El bot está escribiendo…", send: "Enviar", placeholder: "Escriba su mensaje…",
         label: "Su mensaje", close: "Cerrar chat", helpful: "Útil", notHelpful: "No útil", rate: "Valorar esta respuesta",
         retry: "Reintentar", title: "Chat de opiniones", offline: "Su mensaje no se envió: el chat no está disponible. Está de nuevo en el cuadro.",
         failed: "Lo sentimos, algo falló y su mensaje no se envió. Está de nuevo en el cuadro.",
         tooLong: "Su mensaje tiene {n} caracteres; el límite es {max}. Acórtelo, por favor.",
         slowDown: "Está enviando mensajes muy rápido. Espere {s} segundos, por favor.",
         busy: "El bot está ocupado. Inténtelo de nuevo en un momento.", chars: "{n} de {max} caracteres",
         ended: "Esta conversación terminó. Su mensaje está de nuevo en el cuadro."}
  };
  var lang = /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?$/.test(params.lang || "") ? params.lang : "en";
  var T = TEXT[lang.slice(0, 2).toLowerCase()] || TEXT.en;
  document.documentElement.lang = lang;
  function say(key, values) {
    return T[key].replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }
  function number(n) { try { return n.toLocaleString(lang); } catch (e) { return String(n); } }

  /* the loader sends the colour and the text colour that reads on it (computed there, WCAG luminance) */
  if (/^#(?:[0-9a-fA-F]{3}){1,2}$/.test(params.color || "") && (params.on === "#ffffff" || params.on === "#111827")) {
    document.documentElement.style.setProperty("--accent", params.color);
    document.documentElement.style.setProperty("--on-accent", params.on);
  }
  var customTitle = params.title && params.title.length <= 60 ? params.title : null;
  title.textContent = customTitle || T.title;
  document.title = title.textContent;
  input.placeholder = T.placeholder;
  document.getElementById("text-label").textContent = T.label;
  send.textContent = T.send;
  closeButton.setAttribute("aria-label", T.close);
  if (!embedded) closeButton.hidden = true;     /* opened on its own: nothing to close into */

  /* Where the conversation is remembered: this panel's own sessionStorage when the browser allows it, and the
     host page's (see widget.js), which hands it over in the URL fragment (#c=...: never sent to a server) and
     receives it by postMessage addressed to the embedding page's origin alone. */
  var parentOrigin = (window.location.ancestorOrigins && window.location.ancestorOrigins[0]) ||
    (document.referrer ? new URL(document.referrer).origin : null);
  function load() {
    var handed = null;
    try { handed = params.c ? JSON.parse(params.c) : null; } catch (e) { handed = null; }
    try { return JSON.parse(window.sessionStorage.getItem(KEY)) || handed; } catch (e) { return handed; }
  }
  function toParent(message) {
    if (parentOrigin && embedded) window.parent.postMessage(message, parentOrigin);
  }
  function save(value) {
    try { window.sessionStorage.setItem(KEY, JSON.stringify(value)); } catch (e) { /* blocked: see above */ }
    toParent({type: "feedbackbot:conversation", value: value ? JSON.stringify(value) : ""});
  }
  var conversation = load();   /* {session_id, conversation_id, greeting} or null */

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function api(path, body, headers) {
    var init = {method: body === undefined ? "GET" : "POST",
      headers: Object.assign({"Content-Type": "application/json", "X-Feedbackbot-Channel": "widget"}, headers || {})};
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(API + path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (b) {
        return {ok: res.ok, status: res.status, body: b, retryAfter: Number(res.headers.get("Retry-After")) || 0};
      });
    });
  }

  /* --- the log ------------------------------------------------------------------------------------------------ */
  var URL_RE = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g;
  function fillText(el, text, links) {
    if (!links) { el.textContent = text; return; }
    var at = 0;
    text.replace(URL_RE, function (url, index) {
      el.appendChild(document.createTextNode(text.slice(at, index)));
      var a = document.createElement("a");
      a.href = url; a.textContent = url; a.target = "_blank"; a.rel = "noopener noreferrer";
      el.appendChild(a);
      at = index + url.length;
      return url;
    });
    el.appendChild(document.createTextNode(text.slice(at)));
  }

  function stamp(when) {
    var t = document.createElement("time");
    var d = when ? new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(when) ? when : when + "Z") : new Date();
    if (isNaN(d.getTime())) d = new Date();
    t.dateTime = d.toISOString();
    t.textContent = d.toLocaleTimeString(lang, {hour: "2-digit", minute: "2-digit"});
    return t;
  }

  function add(kind, text, when) {
    var div = document.createElement("div");
    div.className = "msg " + kind;
    var who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = kind === "you" ? T.you + " " : T.bot + " ";   /* screen readers hear who spoke */
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dir = "auto";
    fillText(bubble, text, kind !== "you");
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.appendChild(stamp(when));
    div.appendChild(who); div.appendChild(bubble); div.appendChild(meta);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function notice(text, retry) {
    var div = document.createElement("div");
    div.className = "err";
    div.setAttribute("role", "alert");
    div.textContent = text + " ";
    if (retry) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "retry"; b.textContent = T.retry;
      b.addEventListener("click", function () { div.remove(); form.requestSubmit ? form.requestSubmit() : submitTyped(); });
      div.appendChild(b);
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }
  function clearNotices() {
    Array.prototype.forEach.call(log.querySelectorAll(".err"), function (n) { n.remove(); });
  }

  var THUMB = "M7 10v12M15 5.88L14 10h5.83a2 2 0 0 1 1.92 2.56l-2.33 8A2 2 0 0 1 17.5 22H4a2 2 0 0 1-2-2v-8" +
    "a2 2 0 0 1 2-2h2.76a2 2 0 0 0 1.79-1.11L12 2a3.13 3.13 0 0 1 3 3.88Z";

  function rating(messageId, current) {
    var box = document.createElement("div");
    box.className = "rate";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", T.rate);
    var buttons = [];
    var state = current || 0;
    function show() {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(state === b._value)); });
    }
    [[1, T.helpful, ""], [-1, T.notHelpful, "transform:rotate(180deg)"]].forEach(function (r) {
      var b = document.createElement("button");
      b.type = "button"; b.title = r[1]; b.setAttribute("aria-label", r[1]); b._value = r[0];
      var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("width", "18"); svg.setAttribute("height", "18"); svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("fill", "none"); svg.setAttribute("stroke", "currentColor"); svg.setAttribute("stroke-width", "2");
      svg.setAttribute("style", r[2]); svg.setAttribute("aria-hidden", "true");
      var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", THUMB);
      svg.appendChild(path);
      b.appendChild(svg);
      b.addEventListener("click", function () {
        var wanted = state === r[0] ? 0 : r[0];   /* pressing the pressed one takes the rating back */
        api("/messages/" + messageId + "/rating", {session_id: conversation.session_id, value: wanted})
          .then(function (res) { if (res.ok) { state = wanted; show(); } });
      });
      buttons.push(b);
      box.appendChild(b);
    });
    show();
    return box;
  }

  function clearQuickReplies() {
    Array.prototype.forEach.call(log.querySelectorAll(".quick"), function (q) { q.remove(); });
  }

  function quickReplies(messageId, options) {
    if (!options || !options.length) return;
    var box = document.createElement("div");
    box.className = "quick";
    options.forEach(function (q) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = q.text;
      b.addEventListener("click", function () {
        submit(q.text, {quick_reply: q.payload, in_reply_to: messageId});
      });
      box.appendChild(b);
    });
    log.appendChild(box);
    log.scrollTop = log.scrollHeight;
  }

  function showBot(m, when) {
    var div = add("bot", m.reply, when);
    div.dataset.messageId = m.message_id;
    div.querySelector(".meta").appendChild(rating(m.message_id, m.rating));
    lastBotId = m.message_id;
  }

  var typing = null;
  function setBusy(value) {
    busy = value;
    send.disabled = value;
    log.setAttribute("aria-busy", String(value));
    if (value && !typing) {
      typing = document.createElement("div");
      typing.className = "typing";
      typing.setAttribute("aria-hidden", "true");
      typing.textContent = T.typing.replace(/…$/, "");
      for (var i = 0; i < 3; i++) { var dot = document.createElement("span"); dot.textContent = "."; typing.appendChild(dot); }
      log.appendChild(typing);
      log.scrollTop = log.scrollHeight;
      status.textContent = T.typing;
    } else if (!value && typing) {
      typing.remove(); typing = null; status.textContent = "";
    }
  }

  /* --- the character counter: the limit is the server's; a longer message is refused here, never cut ---------- */
  function count() {
    var n = input.value.length;
    var over = n > maxChars;
    counter.textContent = n ? say("chars", {n: number(n), max: number(maxChars)}) : "";
    counter.className = over ? "over" : "";
    input.setAttribute("aria-invalid", String(over));
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
  }
  input.addEventListener("input", count);

  function ensureConversation() {
    if (conversation) return Promise.resolve(conversation);
    return api("/conversations", {}).then(function (r) {
      if (!r.ok) throw new Error("no conversation");
      conversation = {session_id: r.body.session_id, conversation_id: r.body.conversation_id,
                      greeting: r.body.greeting && r.body.greeting.text};
      if (r.body.max_message_chars) maxChars = r.body.max_message_chars;
      save(conversation);
      return conversation;
    });
  }

  function deliver(text, extra, clientId) {
    return ensureConversation().then(function (c) {
      var body = Object.assign({text: text, session_id: c.session_id, client_message_id: clientId,
                                in_reply_to: lastBotId}, extra || {});
      return api("/messages", body);
    });
  }

  function refused(r) {
    var code = r.body && r.body.error && r.body.error.code;
    if (code === "rate_limited") return say("slowDown", {s: Math.max(1, r.retryAfter || 5)});
    if (code === "overloaded") return T.busy;
    if (code === "too_long") return say("tooLong", {n: "?", max: number(maxChars)}).replace("? ", "");
    if (code === "unknown_session") { conversation = null; save(null); return T.ended; }
    return T.failed;
  }

  function submit(text, extra) {
    if (busy || !text.trim()) return;
    clearNotices();
    if (text.length > maxChars) {
      notice(say("tooLong", {n: number(text.length), max: number(maxChars)}), false);
      input.focus();
      return;
    }
    var typed = !extra;
    var clientId = typed && pending && pending.text === text ? pending.clientId : newId();
    setBusy(true);
    clearQuickReplies();
    var mine = add("you", text);
    if (typed) { input.value = ""; count(); }
    function giveBack(message, retry) {
      /* not sent (or not known to be): the bubble goes, the words go back into the box to edit or resend */
      mine.remove();
      if (typed) {
        pending = {text: text, clientId: clientId};
        if (!input.value) { input.value = text; count(); }
      }
      notice(message, retry && typed);
    }
    deliver(text, extra, clientId).then(function (r) {
      if (!r.ok) { giveBack(refused(r), r.status === 429 || r.status >= 500); return; }
      pending = null;
      showBot(r.body);
      quickReplies(r.body.message_id, r.body.quick_replies);
      toParent({type: "feedbackbot:reply"});
    }, function () {
      /* the network failed: the message may or may not have arrived; sending the same text again reuses its
         client id, so it is stored at most once */
      giveBack(T.offline, true);
    }).then(done, done);
    function done() { setBusy(false); input.focus(); }
  }

  function submitTyped() {
    if (busy) return;                 /* the text stays in the box until the reply is in */
    submit(input.value, null);
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); submitTyped(); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submitTyped(); }
  });

  /* --- closing, Esc, and keeping focus inside the open panel ------------------------------------------------- */
  function close() { toParent({type: "feedbackbot:close"}); }
  closeButton.addEventListener("click", close);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { ev.preventDefault(); close(); return; }
    if (ev.key !== "Tab") return;
    var focusable = Array.prototype.filter.call(
      document.querySelectorAll("button, textarea, a[href], [tabindex='0']"),
      function (el) { return !el.disabled && !el.hidden && el.offsetParent !== null; });
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
  window.addEventListener("message", function (ev) {
    if (ev.origin === parentOrigin && ev.data && ev.data.type === "feedbackbot:open") input.focus();
  });

  /* --- start: the server's limit and name, then the conversation (restored, or new with its greeting) -------- */
  function restore() {
    return api("/conversations/" + encodeURIComponent(conversation.conversation_id), undefined,
               {"X-Feedbackbot-Session": conversation.session_id}).then(function (r) {
      if (!r.ok) { conversation = null; save(null); return greet(); }
      if (conversation.greeting) add("greeting", conversation.greeting, r.body.messages.length ? r.body.messages[0].created_at : null);
      r.body.messages.forEach(function (m) { add("you", m.text, m.created_at); showBot(m, m.created_at); });
      if (r.body.open_question) quickReplies(r.body.open_question.message_id, r.body.open_question.quick_replies);
    }, function () { notice(T.offline.split(":")[0] + ".", false); });
  }
  function greet() {
    return ensureConversation().then(function (c) { if (c.greeting) add("greeting", c.greeting); },
                                      function () { /* offline: the first send tries again */ });
  }

  api("/config").then(function (r) {
    if (r.ok) {
      maxChars = r.body.max_message_chars || maxChars;
      if (!customTitle && r.body.business_name) { title.textContent = r.body.business_name; document.title = title.textContent; }
    }
  }, function () { /* offline: defaults */ }).then(function () {
    count();
    return conversation ? restore() : greet();
  }).then(function () {
    document.body.dataset.ready = "1";   /* handlers attached, history shown: tests and host pages can rely on it */
    if (embedded) input.focus();
  });
})();
