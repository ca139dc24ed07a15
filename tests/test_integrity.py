"""What the bot stores must be true (issue: stop corrupting labels, ratings and tickets), over the JSON API.

One scenario per way labels, ratings and tickets used to go wrong, then an adversarial session whose
`export --labelled` must contain only labels a customer really gave. The browser halves (Gradio Clear/Undo/
Retry and like toggles, widget reload and double send) are in test_browser.py.
"""

import csv
import threading

import httpx
import pytest

from bot.channels.http import create_app
from bot.config import PolicyConfig, ServerConfig
from bot.export import export
from bot.store import Correction, Message, Ticket

from conftest import ALWAYS_HIGH, ALWAYS_LOW, LiveServer, make_bot, text_predicted_as


@pytest.fixture(scope="module")
def live(tiny_model_dir, tmp_path_factory):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path_factory.mktemp('integrity') / 'fb.sqlite3'}")
    bot.config.limits.per_session_per_minute = bot.config.limits.per_ip_per_minute = 0
    server = LiveServer(create_app(bot, ServerConfig(), with_gradio=False))
    yield server, bot
    server.stop()


@pytest.fixture
def api(live):
    server, bot = live

    def post(path, **body):
        return httpx.post(f"{server.url}/api/v1{path}", json=body, timeout=30)

    def policy(**kw):
        bot.config.policy = PolicyConfig(**kw)

    post.url = server.url
    return post, bot, policy


def corrections(bot) -> int:
    return bot.store.count(Correction)


def test_1_a_complaint_with_the_word_wrong_is_a_complaint_not_a_correction(api):
    post, bot, policy = api
    policy(**ALWAYS_HIGH)
    first = post("/messages", text="My flight was fine.").json()
    before = corrections(bot)
    for text in ["They gave me the wrong meal and I'm allergic to nuts!",
                 "The invoice amount is incorrect and I was charged twice"]:
        r = post("/messages", text=text, session_id=first["session_id"], in_reply_to=first["message_id"]).json()
        assert r["kind"] == "feedback" and r["correction"] is None and r["prediction"] is not None
        assert r["template"] == f"{r['prediction']['label']}_high"        # answered for what it says
        assert "misread" not in r["reply"] and "which fits" not in r["reply"].lower()
    assert corrections(bot) == before


def test_2_free_text_after_a_question_is_a_new_message(api):
    post, bot, policy = api
    policy(**ALWAYS_LOW)
    q = post("/messages", text="What are your opening hours?").json()
    assert q["quick_replies"]
    before = corrections(bot)
    for text, kind in [("love the app but login is slow", "feedback"), ("Hi", "greeting")]:
        r = post("/messages", text=text, session_id=q["session_id"], in_reply_to=q["message_id"]).json()
        assert r["kind"] == kind and r["correction"] is None
        q = r
    assert corrections(bot) == before


def ask_for_a_label(post, bot, text="the flight was, well, a flight"):
    """A conversation in which the bot shows its label buttons: a follow-up, then (still unsure) the buttons."""
    first = post("/messages", text=text).json()
    q = post("/messages", text="the crew was there and so was I", session_id=first["session_id"],
             in_reply_to=first["message_id"]).json()
    assert [b["payload"] for b in q["quick_replies"]] == ["label:negative", "label:neutral", "label:positive"]
    return first, q


def test_3_a_question_the_customer_cannot_see_is_never_answered(api):
    post, bot, policy = api
    policy(**ALWAYS_LOW)
    first, q = ask_for_a_label(post, bot)
    before = corrections(bot)
    # after a reload or Clear the client shows no question, so it names none: "bad" is a new message
    r = post("/messages", text="bad", session_id=q["session_id"]).json()
    assert r["kind"] == "feedback" and r["correction"] is None and r["ticket"] is None
    # the old question is no longer the last reply: naming it does not make it answerable
    r = post("/messages", text="bad", session_id=q["session_id"], in_reply_to=q["message_id"]).json()
    assert r["correction"] is None
    closed = post("/messages", text="\U0001F44E Bad", session_id=q["session_id"], in_reply_to=q["message_id"],
                  quick_reply="label:negative")
    assert closed.status_code == 409 and "no longer open" in closed.json()["error"]["message"]
    assert closed.json()["error"]["code"] == "question_closed"
    assert corrections(bot) == before


def test_4_a_rating_is_a_state_and_only_valid_values_are_taken(api):
    post, bot, policy = api
    r = post("/messages", text="great crew").json()
    mid, sid = r["message_id"], r["session_id"]
    for value, stored in [(1, 1), (1, 1), (0, None), (-1, -1), (1, 1)]:   # like, like again, un-like, ...
        res = post(f"/messages/{mid}/rating", session_id=sid, value=value)
        assert res.status_code == 200 and res.json() == {"message_id": mid, "rating": value}
        assert bot.store.get_message(mid).rating == stored
    for bad in [True, "1", 3, 1.0, None]:
        assert post(f"/messages/{mid}/rating", session_id=sid, value=bad).status_code == 422
    assert bot.store.get_message(mid).rating == 1


def test_5_only_the_conversation_that_owns_a_message_may_rate_or_correct_it(api):
    post, bot, policy = api
    victim = post("/messages", text="the seat was broken").json()
    attacker = post("/messages", text="hello").json()
    mid = victim["message_id"]
    before = corrections(bot)
    for path, body in [(f"/messages/{mid}/rating", {"value": -1}), (f"/messages/{mid}/correction", {"label": "positive"})]:
        assert post(path, session_id=attacker["session_id"], **body).status_code == 404    # not even "forbidden"
        assert post(path, **body).status_code == 422                                        # no session: refused
        assert post(path, session_id="guess", **body).status_code == 404
    assert bot.store.get_message(mid).rating is None and corrections(bot) == before
    # conversations are server-issued: a client cannot pick (or guess) one
    r = post("/messages", text="hi", session_id="s1")
    assert r.status_code == 404 and "unknown session_id" in r.json()["error"]["message"]
    # the stored conversation id is a hash of the secret, not the secret
    assert bot.store.get_message(mid).conversation_id == victim["conversation_id"] != victim["session_id"]


def test_6_one_open_ticket_per_conversation_and_retries_are_idempotent(api):
    post, bot, policy = api
    policy(**ALWAYS_HIGH)
    complaint = text_predicted_as(bot.classifier, "negative")
    tickets_before, messages_before = bot.store.count(Ticket), bot.store.count(Message)
    first = post("/messages", text=complaint, client_message_id="m-1").json()
    assert first["ticket"] and first["template"] == "negative_high"
    retry = post("/messages", text=complaint, session_id=first["session_id"], client_message_id="m-1").json()
    assert retry["replayed"] and retry["message_id"] == first["message_id"] and retry["ticket"] == first["ticket"]
    assert retry["reply"] == first["reply"]
    more = [post("/messages", text=complaint + f" (again {n})", session_id=first["session_id"],
                 client_message_id=f"m-{n + 2}").json() for n in range(3)]
    assert {m["ticket"] for m in more} == {first["ticket"]}                      # further complaints attach to it
    assert all(first["ticket"] in m["reply"] and "opened" not in m["reply"] for m in more)   # "added to your ticket"
    assert bot.store.count(Ticket) == tickets_before + 1
    assert bot.store.count(Message) == messages_before + 4
    reused = post("/messages", text="something else", session_id=first["session_id"], client_message_id="m-1")
    assert reused.status_code == 409


def test_7_concurrent_sends_in_one_conversation_stay_one_conversation(api):
    post, bot, policy = api
    started = post("/conversations")
    assert started.status_code == 201 and started.json()["greeting"]["text"]
    sid = started.json()["session_id"]
    results = []
    threads = [threading.Thread(target=lambda n=n: results.append(
        post("/messages", text=f"message {n}", session_id=sid, client_message_id=f"c{n}").json())) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r["conversation_id"] for r in results} == {started.json()["conversation_id"]}
    history = httpx.get(f"{post.url}/api/v1/conversations/{started.json()['conversation_id']}",
                        headers={"X-Feedbackbot-Session": sid}).json()
    assert sorted(m["text"] for m in history["messages"]) == [f"message {n}" for n in range(4)]


def test_history_needs_the_owners_secret(api):
    post, bot, policy = api
    r = post("/messages", text="my bag never arrived").json()
    url = f"{post.url}/api/v1/conversations/{r['conversation_id']}"
    assert httpx.get(url, headers={"X-Feedbackbot-Session": r["session_id"]}).json()["messages"][0]["text"] == \
        "my bag never arrived"
    other = post("/messages", text="hello").json()
    assert httpx.get(url, headers={"X-Feedbackbot-Session": other["session_id"]}).status_code == 404
    assert httpx.get(url).status_code == 422


def test_adversarial_session_exports_only_labels_customers_gave(api, tmp_path):
    """Keywords, stale questions and buttons, retries, rating toggles, forged ids: the labelled export holds
    exactly the two labels the customer explicitly gave (one button press, one label-only answer)."""
    post, bot, policy = api
    policy(**ALWAYS_LOW)
    path = tmp_path / "before.csv"
    export(bot.store, path, labelled=True)
    with open(path, newline="") as fh:
        already = len(list(csv.DictReader(fh)))
    a = post("/messages", text="The refund was wrong and incorrect, you misunderstood").json()
    post("/messages", text="wrong", session_id=a["session_id"])                       # no question shown
    b = post("/messages", text="bad", session_id=a["session_id"], in_reply_to=a["message_id"]).json()  # stale
    assert b["correction"] is None
    stale = post("/messages", text="\U0001F44E Bad", session_id=a["session_id"], in_reply_to=a["message_id"],
                 quick_reply="label:negative")
    assert stale.status_code == 409                      # a button under a question that is no longer shown
    d = post("/messages", text="the staff ignored me", session_id=a["session_id"]).json()
    more = post("/messages", text="nobody came for an hour", session_id=a["session_id"],
                in_reply_to=d["message_id"]).json()
    given1 = post("/messages", text="\U0001F44E Bad", session_id=a["session_id"], in_reply_to=more["message_id"],
                  quick_reply="label:negative").json()
    assert given1["correction"] == {"message_id": d["message_id"], "label": "negative", "source": "customer_button"}
    for _ in range(3):                                   # the same typed message retried: stored once
        post("/messages", text="\U0001F44E Bad", session_id=a["session_id"], client_message_id="x",
             in_reply_to=given1["message_id"])
    c = post("/messages", text="the food was cold", session_id=a["session_id"]).json()
    c2 = post("/messages", text="and the soup was salty", session_id=a["session_id"], in_reply_to=c["message_id"]).json()
    given2 = post("/messages", text="it was okay", session_id=a["session_id"], in_reply_to=c2["message_id"]).json()
    assert given2["correction"] == {"message_id": c["message_id"], "label": "neutral", "source": "customer_text"}
    for value in (1, 1, 0, -1, 0):                       # rating toggles: no label, and back to none
        post(f"/messages/{c['message_id']}/rating", session_id=a["session_id"], value=value)
    mallory = post("/conversations").json()["session_id"]
    last = post("/messages", text="x", session_id=mallory).json()["message_id"]
    for mid in range(1, last):                           # forged ids against every message there is
        assert post(f"/messages/{mid}/correction", session_id=mallory, label="positive").status_code == 404
        assert post(f"/messages/{mid}/rating", session_id=mallory, value=1).status_code == 404
    # an answer turn ("yes", a button press) is not feedback: not even its owner can label it
    assert post(f"/messages/{given2['message_id']}/correction", session_id=a["session_id"],
                label="positive").status_code == 404
    out = tmp_path / "labelled.csv"
    export(bot.store, out, labelled=True)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))[already:]
    assert sorted((r["text"], r["label"], r["source"]) for r in rows) == sorted([
        ("the staff ignored me", "negative", "customer_button"), ("the food was cold", "neutral", "customer_text")])
    assert bot.store.get_message(c["message_id"]).rating is None
