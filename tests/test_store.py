import sqlite3
import threading

import pytest

from bot.policy import CUSTOMER_TEXT, OPERATOR, WHICH, Pending
from bot.store import (Correction, DuplicateTurn, Message, NotFound, Store, StoreError, Ticket, TurnRecord)


def turn(conv="c1", text="late again", **kw):
    base = dict(conversation_id=conv, channel="api", text=text, kind="feedback", label="negative",
                probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05}, band="high",
                template="negative_high", reply="sorry", latency_ms=3.2, model_version="m1")
    return TurnRecord(**(base | kw))


def roundtrip(store: Store):
    first = store.record_turn(turn(ticket="FB-0001", ticket_is_new=True,
                                   text="late again \u2014 \U0001F620 \u05e9\u05dc\u05d5\u05dd"))
    state = store.state("c1")
    assert state.pending is None and state.last_message_id == first and state.open_ticket == "FB-0001"
    second = store.record_turn(turn(text="hmm", band="low", template="negative_low", ask=(WHICH, "negative")))
    assert store.state("c1").pending == Pending(second, second, "negative", WHICH)
    third = store.record_turn(turn(text="it was bad", kind="answer", label=None, probabilities=None,
                                   correction=(second, "negative", CUSTOMER_TEXT), ticket="FB-0001",
                                   in_reply_to=second))
    assert store.state("c1").pending is None
    # ratings are a state: set, change, clear; never a second row
    store.set_rating("c1", first, 1)
    store.set_rating("c1", first, -1)
    store.set_rating("c1", third, 1)
    store.set_rating("c1", third, 0)
    store.add_correction(first, "neutral", OPERATOR, operator="ana")
    with pytest.raises(NotFound):
        store.set_rating("c1", 999, 1)
    with pytest.raises(NotFound):                      # another conversation's message: as if it did not exist
        store.set_rating("c2", first, 1)
    with pytest.raises(NotFound):
        store.add_correction(first, "positive", CUSTOMER_TEXT, conversation_id="c2")
    with pytest.raises(ValueError):
        store.set_rating("c1", first, 5)
    with pytest.raises(ValueError):
        store.add_correction(first, "positive", "api")
    rows = list(store.iter_messages(batch=2))
    assert [r["id"] for r in rows] == [first, second, third]
    assert rows[0]["text"] == "late again \u2014 \U0001F620 \u05e9\u05dc\u05d5\u05dd"
    assert rows[0]["ticket"] == "FB-0001" and rows[0]["rating"] == -1
    assert (rows[0]["correction"], rows[0]["correction_source"]) == ("neutral", OPERATOR)
    assert (rows[1]["correction"], rows[1]["correction_source"]) == ("negative", CUSTOMER_TEXT)
    assert rows[2]["rating"] is None and rows[2]["kind"] == "answer" and rows[2]["label"] is None
    assert rows[0]["label_source"] == "model" and rows[2]["label_source"] is None
    assert rows[0]["probabilities"] == {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
    assert rows[0]["confidence"] == 0.9
    assert (store.count(Message), store.count(Correction), store.count(Ticket)) == (3, 2, 1)
    # a second open ticket in the same conversation is refused by the database itself
    with pytest.raises(DuplicateTurn):
        store.record_turn(turn(text="still late", ticket="FB-0002", ticket_is_new=True))
    # the same client message id is stored once
    store.record_turn(turn(text="once", client_message_id="k1"))
    with pytest.raises(DuplicateTurn):
        store.record_turn(turn(text="once", client_message_id="k1"))
    assert store.find_turn("c1", "k1")["text"] == "once" and store.find_turn("c2", "k1") is None
    # withdrawing the answer takes its correction and rating back, and closes nothing still referenced
    store.set_rating("c1", third, 1)
    assert store.withdraw("c1", [third, 999]) == 1
    rows = {r["id"]: r for r in store.iter_messages()}
    assert rows[third]["withdrawn"] and rows[third]["rating"] is None and rows[second]["correction"] is None
    assert [h["id"] for h in store.history("c1")] == [first, second, rows[max(rows)]["id"]]
    assert store.state("c1").open_ticket == "FB-0001"
    assert store.withdraw("c2", [first]) == 0                   # not theirs: nothing happens
    store.withdraw("c1", [first])
    assert store.state("c1").open_ticket is None                # no visible message is on that ticket any more


def test_sqlite_roundtrip_and_wal(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    roundtrip(store)
    store.close()
    con = sqlite3.connect(tmp_path / "fb.sqlite3")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_default_sqlite_file_lives_in_user_data_dir():
    store = Store()
    assert store.url.startswith("sqlite:///") and "feedbackbot" in store.url


@pytest.mark.slow
def test_postgres_roundtrip(postgres_url):
    store = Store(postgres_url)
    with store.engine.begin() as con:  # start clean: the database may be reused across runs
        for table in ("corrections", "tickets", "messages", "conversations"):
            con.exec_driver_sql(f"DELETE FROM {table}")
    roundtrip(store)
    assert store.engine.dialect.name == "postgresql"


def test_concurrent_complaints_in_one_conversation_share_one_ticket(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    results = []

    def complain(n):
        try:
            store.record_turn(turn(text=f"complaint {n}", ticket=f"FB-{n:04d}", ticket_is_new=True))
            results.append("stored")
        except DuplicateTurn:
            results.append("duplicate")

    threads = [threading.Thread(target=complain, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("stored") == 1 and store.count(Ticket) == 1


OLD_SCHEMA = """
CREATE TABLE conversations (id VARCHAR(128) PRIMARY KEY, channel VARCHAR(32), created_at DATETIME,
  pending_message_id INTEGER, pending_leaning VARCHAR(64), pending_kind VARCHAR(16));
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id VARCHAR(128), channel VARCHAR(32),
  text TEXT, label VARCHAR(64), probabilities JSON, confidence FLOAT, band VARCHAR(8), template VARCHAR(64),
  reply TEXT, latency_ms FLOAT, model_version VARCHAR(128), ticket VARCHAR(32), created_at DATETIME);
CREATE TABLE ratings (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER, value INTEGER, created_at DATETIME);
CREATE TABLE corrections (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER, label VARCHAR(64),
  source VARCHAR(32), created_at DATETIME);
CREATE TABLE tickets (id VARCHAR(32) PRIMARY KEY, message_id INTEGER, conversation_id VARCHAR(128),
  status VARCHAR(16), created_at DATETIME);
INSERT INTO conversations VALUES ('c1', 'api', '2026-01-01 10:00:00', NULL, NULL, NULL);
INSERT INTO messages (conversation_id, channel, text, label, template, reply, latency_ms, model_version, ticket)
  VALUES ('c1', 'api', 'late', 'negative', 'negative_high', 'sorry', 1, 'm', 'FB-A'),
         ('c1', 'api', 'still late', 'negative', 'negative_high', 'sorry', 1, 'm', 'FB-B');
INSERT INTO ratings (message_id, value) VALUES (1, 1), (1, -1), (1, 1), (2, -1);
INSERT INTO corrections (message_id, label, source) VALUES (1, 'positive', 'clarification');
INSERT INTO tickets VALUES ('FB-B', 2, 'c1', 'open', '2026-01-01 10:05:00'), ('FB-A', 1, 'c1', 'open', '2026-01-01 10:00:00');
"""


def test_a_store_from_the_previous_version_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.close()
    store = Store(f"sqlite:///{path}")
    rows = list(store.iter_messages())
    assert [r["rating"] for r in rows] == [1, -1]                       # the last click, as the screen showed
    assert rows[0]["correction_source"] == "legacy-clarification"       # no longer taken as the customer's word
    assert store.state("c1").open_ticket == "FB-A"                      # the oldest open ticket stays open
    Store(f"sqlite:///{path}")                                          # upgrading again changes nothing
    assert [r["rating"] for r in store.iter_messages()] == [1, -1]


def test_unreachable_store_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot open the feedback store"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
