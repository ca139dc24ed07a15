/* The widget panel: talks to the bot's JSON API on its own origin. All text goes in via textContent.

   What the customer sees is what the server has (README "What is stored must be true"):
   - one conversation: it is created before the first message is sent, and messages go out one at a time, so
     two quick sends can never start two conversations or get their replies out of order;
   - a reload shows the same conversation again (history is read back from the server), so an open question is
     never answered invisibly;
   - every message carries a client id, so a retry after a network error is stored once;
   - a rating is a state (none / helpful / not helpful) that the server confirms. */
(function () {
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var API = "/api/v1";
  var KEY = "feedbackbot-conversation";
  var busy = false;
  var lastBotId = null;

  /* Where the conversation is remembered: this panel's own sessionStorage when the browser allows it, and the
     host page's (see widget.js), which hands it over in the URL fragment (#c=...: never sent to a server) and
     receives it by postMessage addressed to the embedding page's origin alone. */
  var parentOrigin = (window.location.ancestorOrigins && window.location.ancestorOrigins[0]) ||
    (document.referrer ? new URL(document.referrer).origin : null);
  function fromFragment() {
    var m = /[#&]c=([^&]+)/.exec(window.location.hash);
    if (!m) return null;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    try { return JSON.parse(decodeURIComponent(m[1])); } catch (e) { return null; }
  }
  function load() {
    var handed = fromFragment();
    try { return JSON.parse(window.sessionStorage.getItem(KEY)) || handed; } catch (e) { return handed; }
  }
  function save(value) {
    try { window.sessionStorage.setItem(KEY, JSON.stringify(value)); } catch (e) { /* blocked: see above */ }
    if (parentOrigin && window.parent !== window) {
      window.parent.postMessage({type: "feedbackbot:conversation", value: value ? JSON.stringify(value) : ""},
                                parentOrigin);
    }
  }
  var conversation = load();   /* {session_id, conversation_id} or null */

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function api(path, body, headers) {
    var init = {method: body === undefined ? "GET" : "POST",
      headers: Object.assign({"Content-Type": "application/json", "X-Feedbackbot-Channel": "widget"}, headers || {})};
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(API + path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (b) { return {ok: res.ok, status: res.status, body: b}; });
    });
  }

  function add(kind, text) {
    var div = document.createElement("div");
    div.className = "msg " + kind;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  var THUMB = "M7 10v12M15 5.88L14 10h5.83a2 2 0 0 1 1.92 2.56l-2.33 8A2 2 0 0 1 17.5 22H4a2 2 0 0 1-2-2v-8" +
    "a2 2 0 0 1 2-2h2.76a2 2 0 0 0 1.79-1.11L12 2a3.13 3.13 0 0 1 3 3.88Z";

  function rating(messageId, current) {
    var box = document.createElement("div");
    box.className = "rate";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Rate this reply");
    var buttons = [];
    var state = current || 0;
    function show() {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(state === b._value)); });
    }
    [[1, "Helpful", ""], [-1, "Not helpful", "transform:rotate(180deg)"]].forEach(function (r) {
      var b = document.createElement("button");
      b.type = "button"; b.title = r[1]; b.setAttribute("aria-label", r[1]); b._value = r[0];
      var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("width", "16"); svg.setAttribute("height", "16"); svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("fill", "none"); svg.setAttribute("stroke", "currentColor"); svg.setAttribute("stroke-width", "2");
      svg.setAttribute("style", r[2]);
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

  function showBot(m) {
    var div = add("bot", m.reply);
    div.dataset.messageId = m.message_id;
    div.appendChild(rating(m.message_id, m.rating));
    lastBotId = m.message_id;
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    log.setAttribute("aria-busy", String(value));
  }

  function ensureConversation() {
    if (conversation) return Promise.resolve(conversation);
    return api("/conversations", {}).then(function (r) {
      if (!r.ok) throw new Error("no conversation");
      conversation = {session_id: r.body.session_id, conversation_id: r.body.conversation_id};
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

  function submit(text, extra) {
    if (busy || !text.trim()) return;
    setBusy(true);
    clearQuickReplies();
    add("you", text);
    var clientId = newId();
    function attempt() {
      return deliver(text, extra, clientId).then(function (r) {
        if (!r.ok) { add("err", r.body.error || "Sorry, something went wrong. Please try again."); return; }
        showBot(r.body);
        quickReplies(r.body.message_id, r.body.quick_replies);
      }, function () {
        /* the network failed: the message may or may not have arrived; retrying with the same client id
           stores it at most once */
        var err = add("err", "Sorry, the chat is unreachable right now. ");
        var retry = document.createElement("button");
        retry.type = "button"; retry.className = "retry"; retry.textContent = "Try again";
        retry.addEventListener("click", function () { err.remove(); setBusy(true); attempt().then(done, done); });
        err.appendChild(retry);
      });
    }
    function done() { setBusy(false); input.focus(); }
    attempt().then(done, done);
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (busy) return;                 /* the text stays in the box until the reply is in */
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    submit(text, null);
  });

  function restore() {
    if (!conversation) return Promise.resolve();
    return api("/conversations/" + encodeURIComponent(conversation.conversation_id), undefined,
               {"X-Feedbackbot-Session": conversation.session_id}).then(function (r) {
      if (!r.ok) { conversation = null; save(null); return; }
      r.body.messages.forEach(function (m) { add("you", m.text); showBot(m); });
      if (r.body.open_question) quickReplies(r.body.open_question.message_id, r.body.open_question.quick_replies);
    }, function () { /* offline: start empty; the next send retries */ });
  }

  restore().then(function () {
    document.body.dataset.ready = "1";   /* handlers attached, history shown: tests and host pages can rely on it */
  });
})();
