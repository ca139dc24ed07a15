import sqlite3

import pytest

from bot.policy import Pending
from bot.store import Correction, Message, Rating, Store, StoreError, Ticket, TurnRecord


def turn(conv="c1", text="late again", **kw):
    base = dict(conversation_id=conv, channel="api", text=text, label="negative",
                probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05}, band="high",
                template="negative_high", reply="sorry", latency_ms=3.2, model_version="m1", ticket=None,
                correction=None, pending_after=None, pending_on_self=None)
    return TurnRecord(**(base | kw))


def roundtrip(store: Store):
    first = store.record_turn(turn(ticket="FB-0001", text="late again \u2014 \U0001F620 \u05e9\u05dc\u05d5\u05dd"))
    state = store.state("c1")
    assert state.pending is None and state.last_message_id == first and state.last_label == "negative"
    second = store.record_turn(turn(text="hmm", band="low", template="clarify", pending_on_self=("neutral", "clarify")))
    assert store.state("c1").pending == Pending(second, "neutral", "clarify")
    third = store.record_turn(turn(text="it was bad", correction=(second, "negative")))
    assert store.state("c1").pending is None
    store.add_rating(first, 1)
    store.add_rating(first, -1)
    store.add_rating(third, 1)
    store.add_correction(first, "neutral", "api")
    with pytest.raises(StoreError, match="no message 999"):
        store.add_rating(999, 1)
    with pytest.raises(ValueError):
        store.add_rating(first, 5)
    rows = list(store.iter_messages(batch=2))
    assert [r["id"] for r in rows] == [first, second, third]
    assert rows[0]["text"] == "late again \u2014 \U0001F620 \u05e9\u05dc\u05d5\u05dd"
    assert rows[0]["ticket"] == "FB-0001" and rows[0]["rating"] == 0 and rows[0]["correction"] == "neutral"
    assert rows[1]["correction"] == "negative" and rows[2]["rating"] == 1
    assert rows[0]["probabilities"] == {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
    assert rows[0]["confidence"] == 0.9
    assert store.find_reply("c1", "sorry") == third and store.find_reply("c1", "nope") is None
    assert store.find_reply("c2", "sorry") is None
    assert (store.count(Message), store.count(Rating), store.count(Correction)) == (3, 3, 2)
    assert store.count(Ticket) == 1


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
        for table in ("corrections", "ratings", "tickets", "messages", "conversations"):
            con.exec_driver_sql(f"DELETE FROM {table}")
    roundtrip(store)
    assert store.engine.dialect.name == "postgresql"


def test_unreachable_store_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot open the feedback store"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
