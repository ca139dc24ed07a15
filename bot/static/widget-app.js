/* The widget panel: talks to the bot's JSON API on its own origin. All text goes in via textContent. */
(function () {
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("text");
  /* Third-party storage is often blocked inside a cross-site iframe (Safari ITP, Chromium settings):
     then the conversation lives in memory for as long as the panel is open. */
  function storage(op, value) {
    try {
      if (op === "get") return window.sessionStorage.getItem("feedbackbot-session");
      window.sessionStorage.setItem("feedbackbot-session", value);
    } catch (e) { return null; }
    return null;
  }
  var session = storage("get");

  function add(kind, text) {
    var div = document.createElement("div");
    div.className = "msg " + kind;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function rating(messageId) {
    var box = document.createElement("div");
    box.className = "rate";
    /* thumbs up / down as inline SVG (no emoji font needed); the down icon is the up icon rotated */
    var THUMB = "M7 10v12M15 5.88L14 10h5.83a2 2 0 0 1 1.92 2.56l-2.33 8A2 2 0 0 1 17.5 22H4a2 2 0 0 1-2-2v-8" +
      "a2 2 0 0 1 2-2h2.76a2 2 0 0 0 1.79-1.11L12 2a3.13 3.13 0 0 1 3 3.88Z";
    [[1, "Helpful", ""], [-1, "Not helpful", "transform:rotate(180deg)"]].forEach(function (r) {
      var b = document.createElement("button");
      b.type = "button"; b.title = r[1]; b.setAttribute("aria-label", r[1]);
      var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("width", "16"); svg.setAttribute("height", "16"); svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("fill", "none"); svg.setAttribute("stroke", "currentColor"); svg.setAttribute("stroke-width", "2");
      svg.setAttribute("style", r[2]);
      var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", THUMB);
      svg.appendChild(path);
      b.appendChild(svg);
      b.addEventListener("click", function () {
        fetch("/api/v1/messages/" + messageId + "/rating", {method: "POST",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify({value: r[0]})})
          .then(function (res) { if (res.ok) b.setAttribute("aria-pressed", "true"); });
      });
      box.appendChild(b);
    });
    return box;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    add("you", text);
    fetch("/api/v1/messages", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Feedbackbot-Channel": "widget"},
      body: JSON.stringify({text: text, session_id: session})})
      .then(function (res) { return res.json().then(function (body) { return {ok: res.ok, body: body}; }); })
      .then(function (r) {
        if (!r.ok) { add("err", r.body.error || "Sorry, something went wrong. Please try again."); return; }
        session = r.body.session_id;
        storage("set", session);
        var div = add("bot", r.body.reply);
        div.dataset.messageId = r.body.message_id;
        div.appendChild(rating(r.body.message_id));
      })
      .catch(function () { add("err", "Sorry, the chat is unreachable right now. Please try again."); });
  });
  document.body.dataset.ready = "1";   /* handlers attached: tests and host pages can rely on it */
})();
