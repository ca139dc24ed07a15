/* The widget panel: talks to the bot's JSON API on its own origin. All text goes in via textContent. */
(function () {
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("text");
  var session = sessionStorage.getItem("feedbackbot-session");

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
    [["\uD83D\uDC4D", 1, "Helpful"], ["\uD83D\uDC4E", -1, "Not helpful"]].forEach(function (r) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = r[0]; b.title = r[2]; b.setAttribute("aria-label", r[2]);
      b.addEventListener("click", function () {
        fetch("/api/v1/messages/" + messageId + "/rating", {method: "POST",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify({value: r[1]})})
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
        sessionStorage.setItem("feedbackbot-session", session);
        var div = add("bot", r.body.reply);
        div.dataset.messageId = r.body.message_id;
        div.appendChild(rating(r.body.message_id));
      })
      .catch(function () { add("err", "Sorry, the chat is unreachable right now. Please try again."); });
  });
})();
