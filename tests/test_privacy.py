"""Data protection (#16): redaction before storing and exporting, retention (`feedbackbot purge`) and erasing one
customer's conversation (`feedbackbot erase`, Store.erase_conversation) on SQLite and PostgreSQL."""

import csv
import json
import logging
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot.cli import main
from bot.export import export
from bot.policy import CUSTOMER_TEXT, OPERATOR, WHICH
from bot.sessions import conversation_id
from bot.store import AuditEntry, Conversation, Correction, Message, Store, Ticket, TurnRecord

from conftest import ALWAYS_HIGH, make_bot, text_predicted_as

CARD = "4111 1111 1111 1111"


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'fb.sqlite3'}"


def turn(conv, text="late again", **kw):
    base = dict(conversation_id=conv, channel="api", text=text, kind="feedback", label="negative",
                probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05}, band="high",
                template="negative_high", reply="sorry", latency_ms=1.0, model_version="m1")
    return TurnRecord(**(base | kw))


# --- redaction through the bot ----------------------------------------------------------------------------------

def redacting_bot(model_dir, db, **policy):
    bot = make_bot(model_dir, db, **policy)
    bot.config.store.redact = True
    seen = []
    predict = bot.classifier.predict
    bot.classifier.predict = lambda texts: seen.extend(texts) or predict(texts)
    return bot, seen


def test_the_classifier_reads_the_original_and_the_store_keeps_it_redacted(tiny_model_dir, db, tmp_path):
    bot, seen = redacting_bot(tiny_model_dir, db, **ALWAYS_HIGH)
    complaint = text_predicted_as(bot.classifier, "negative")
    text = f"{complaint} charged twice on {CARD}, call me on +44 20 7946 0958"
    r = bot.reply("s1", text, client_message_id="k1")
    assert text in seen                                         # the model saw the card and the phone
    original = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'plain.sqlite3'}", **ALWAYS_HIGH)
    assert r.prediction.label == original.reply("p1", text).prediction.label     # and decided as without redaction
    row = next(bot.store.iter_messages())
    assert row["text"] == f"{complaint} charged twice on [card], call me on [phone]" and row["redacted"] == 1
    assert CARD not in json.dumps(row, default=str) and "7946" not in json.dumps(row, default=str)
    again = bot.reply("s1", text, client_message_id="k1")      # a retry is recognised from the redacted text
    assert again.replayed and again.message_id == r.message_id and bot.store.count(Message) == 1
    bot.reply("s1", "and the food was cold")
    assert [r["redacted"] for r in bot.store.iter_messages()] == [1, 0]          # checked, nothing found


def test_the_contact_given_for_a_ticket_stays_on_the_ticket_and_leaves_the_message(tiny_model_dir, db):
    bot, _ = redacting_bot(tiny_model_dir, db, **ALWAYS_HIGH)
    q = bot.reply("c1", "What are your opening hours?")
    person = bot.reply("c1", "Talk to a person", in_reply_to=q.message_id, quick_reply="person")
    saved = bot.reply("c1", "sure, it's jane.doe@example.com", in_reply_to=person.message_id)
    assert saved.template == "contact_saved"
    ticket = bot.store.ticket(person.ticket)
    assert (ticket["contact_kind"], ticket["contact"]) == ("email", "jane.doe@example.com")     # consented
    assert bot.store.message_text(conversation_id("c1"), saved.message_id) == "sure, it's [email]"


def test_a_reply_quoting_the_message_is_stored_scrubbed_but_shown_whole(tiny_model_dir, db):
    bot, _ = redacting_bot(tiny_model_dir, db, **ALWAYS_HIGH)
    from bot.policy import Prediction
    good = Prediction("positive", {"negative": 0.02, "neutral": 0.03, "positive": 0.95})
    bad = Prediction("negative", {"negative": 0.95, "neutral": 0.03, "positive": 0.02})
    bot.classifier.predict = lambda texts: [good if "lovely" in t and "card" not in t else bad for t in texts]
    bot.batcher = None
    text = f"the crew was lovely, but you charged my card {CARD} twice"
    r = bot.reply("m1", text)
    assert r.template == "mixed" and CARD in r.text                 # the customer sees their own words
    row = next(bot.store.iter_messages())
    assert CARD not in row["reply"] and "[card]" in row["reply"]
    assert [c["text"] for c in row["clauses"]] == ["the crew was lovely", "you charged my card [card] twice"]


def test_without_redaction_the_text_is_stored_as_received(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db)
    bot.reply("s1", f"card {CARD}")
    row = next(bot.store.iter_messages())
    assert row["text"] == f"card {CARD}" and row["redacted"] is None


def test_export_redacts_rows_stored_before_redaction_was_on(db, tmp_path):
    store = Store(db)
    store.record_turn(turn("c1", f"refund to DE89 3704 0044 0532 0130 00 or {CARD}",
                           reply=f'sorry about "{CARD}"', clauses=[{"text": f"card {CARD}", "label": "negative"}]))
    store.record_turn(turn("c1", "nothing personal"))
    plain = tmp_path / "plain.csv"
    export(store, plain)
    assert CARD in plain.read_text()
    out = tmp_path / "out.csv"
    assert export(store, out, redact=True) == 2
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["text"] == "refund to [iban] or [card]" and rows[0]["reply"] == 'sorry about "[card]"'
    assert json.loads(rows[0]["clauses"]) == [{"text": "card [card]", "label": "negative"}]
    assert [r["redacted"] for r in rows] == ["1", "0"] and CARD not in out.read_text()
    labelled = tmp_path / "labelled.jsonl"
    store.add_correction(1, "negative", OPERATOR, operator="ana")
    export(store, labelled, labelled=True, redact=True)
    assert json.loads(labelled.read_text())["text"] == "refund to [iban] or [card]"


def test_export_command_follows_the_config(db, tmp_path, monkeypatch):
    Store(db).record_turn(turn("c1", f"card {CARD}"))
    config = tmp_path / "fb.toml"
    config.write_text("[store]\nredact = true\n")
    assert main(["export", "--config", str(config), "--db", db, "--out", str(tmp_path / "o.jsonl")]) == 0
    assert json.loads((tmp_path / "o.jsonl").read_text())["text"] == "card [card]"


# --- retention --------------------------------------------------------------------------------------------------

def age(store: Store, conv: str, days: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(Conversation.__table__.update().where(Conversation.__table__.c.id == conv).values(
            last_active_at=datetime.now(timezone.utc) - timedelta(days=days)))


def fill(store: Store, conv: str) -> dict:
    """A conversation with a ticket, a question answered with a correction, an operator correction, a rating."""
    first = store.record_turn(turn(conv, ticket=f"FB-{conv[:8]}", ticket_is_new=True))
    asked = store.record_turn(turn(conv, "hmm", band="low", ask=(WHICH, "negative")))
    store.record_turn(turn(conv, "it was bad", kind="answer", label=None, probabilities=None, in_reply_to=asked,
                           correction=(asked, "negative", CUSTOMER_TEXT), ticket=f"FB-{conv[:8]}"))
    store.add_correction(first, "neutral", OPERATOR, operator="ana")
    store.set_rating(conv, first, -1)
    return {"conversations": 1, "messages": 3, "ratings": 1, "corrections": 2, "tickets": 1}


def counts(store: Store) -> tuple:
    return tuple(store.count(t) for t in (Conversation, Message, Correction, Ticket))


def test_purge_deletes_idle_conversations_whole_and_is_idempotent(db, caplog):
    store = Store(db)
    for conv in ("old1", "old2", "new"):
        fill(store, conv)
    age(store, "old1", 400)
    age(store, "old2", 31)
    age(store, "new", 29)
    before = datetime.now(timezone.utc) - timedelta(days=30)
    expected = {"conversations": 2, "messages": 6, "ratings": 2, "corrections": 4, "tickets": 2}
    assert store.purge(before, by="test", dry_run=True) == expected
    assert counts(store) == (3, 9, 6, 3) and store.audit_log() == []          # a dry run changes nothing
    with caplog.at_level(logging.WARNING, logger="feedbackbot.store"):
        assert store.purge(before, by="test", batch=1) == expected             # one conversation per transaction
    assert counts(store) == (1, 3, 2, 1)
    assert {r["conversation_id"] for r in store.iter_messages()} == {"new"}
    assert store.purge(before, by="test") == dict.fromkeys(expected, 0)       # again: nothing more
    audit = store.audit_log()
    assert [a["action"] for a in audit] == ["purge", "purge"] and audit[1]["actor"] == "test"
    assert {k: v for k, v in audit[1]["counts"].items() if k != "before"} == expected
    assert "purged conversations" in caplog.text


def test_activity_moves_a_conversation_out_of_the_purge(db):
    store = Store(db)
    fill(store, "c1")
    first = store.history("c1")[0]["id"]
    before = datetime.now(timezone.utc) - timedelta(days=30)
    for touch in (lambda: store.record_turn(turn("c1", "back again")), lambda: store.set_rating("c1", first, 1),
                  lambda: store.add_correction(first, "negative", CUSTOMER_TEXT, conversation_id="c1"),
                  lambda: store.withdraw("c1", [first])):
        age(store, "c1", 60)
        touch()
        assert store.purge(before, by="test", dry_run=True)["conversations"] == 0
    age(store, "c1", 60)
    store.add_correction(first, "positive", OPERATOR, operator="ana")          # an operator's label is not activity
    assert store.purge(before, by="test", dry_run=True)["conversations"] == 1


def test_purge_finds_old_conversations_through_an_index(db):
    store = Store(db)
    fill(store, "c1")
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM conversations WHERE last_active_at < '2026-01-01' "
            "ORDER BY last_active_at LIMIT 500"))
    assert "ix_conversations_last_active_at" in plan and "SCAN conversations" not in plan


def test_a_store_from_before_retention_is_upgraded_and_purged_by_its_last_message(tmp_path):
    path = tmp_path / "old.sqlite3"
    Store(f"sqlite:///{path}").record_turn(turn("c1"))
    con = sqlite3.connect(path)                   # as an earlier version left it: no activity column, no audit log
    con.executescript("DROP INDEX ix_conversations_last_active_at; ALTER TABLE conversations DROP COLUMN "
                      "last_active_at; ALTER TABLE messages DROP COLUMN redacted; DROP TABLE audit_log; "
                      "UPDATE messages SET created_at = '2025-01-01 00:00:00.000000';"
                      "UPDATE conversations SET created_at = '2024-12-31 00:00:00.000000';")
    con.close()
    store = Store(f"sqlite:///{path}")
    row = next(store.iter_messages())
    assert row["redacted"] is None and store.audit_log() == []
    cutoff = datetime(2025, 6, 1, tzinfo=timezone.utc)
    assert store.purge(datetime(2024, 12, 31, 12, tzinfo=timezone.utc), by="t", dry_run=True)["conversations"] == 0
    assert store.purge(cutoff, by="t")["messages"] == 1 and store.count(Message) == 0


def test_purge_command(db, tmp_path, capsys):
    store = Store(db)
    fill(store, "old")
    fill(store, "new")
    age(store, "old", 100)
    config = tmp_path / "fb.toml"
    config.write_text("[store]\nretain_days = 90\n")
    assert main(["purge", "--config", str(config), "--db", db, "--dry-run"]) == 0
    assert "would delete 1 conversations, 3 messages, 1 ratings, 2 corrections, 1 tickets" in capsys.readouterr().out
    assert counts(store) == (2, 6, 4, 2)
    assert main(["purge", "--config", str(config), "--db", db, "--by", "ops"]) == 0
    assert "deleted 1 conversations, 3 messages" in capsys.readouterr().out and counts(store) == (1, 3, 2, 1)
    assert main(["purge", "--config", str(config), "--db", db]) == 0
    assert "deleted 0 conversations" in capsys.readouterr().out
    assert store.audit_log()[1]["actor"] == "ops"
    config.write_text("[store]\nretain_days = 0\n")
    assert main(["purge", "--config", str(config), "--db", db]) == 0
    assert "kept forever" in capsys.readouterr().out and counts(store) == (1, 3, 2, 1)
    config.write_text("[store]\nretain_days = -1\n")
    assert main(["purge", "--config", str(config), "--db", db]) == 2


# --- erase ------------------------------------------------------------------------------------------------------

def erase_roundtrip(store: Store, caplog):
    mine, other = conversation_id("secret-1"), conversation_id("secret-2")
    expected = fill(store, mine)
    fill(store, other)
    store.record_turn(turn(mine, f"my card {CARD}"))
    expected["messages"] += 1
    with caplog.at_level(logging.WARNING, logger="feedbackbot.store"):
        assert store.erase_conversation(mine, by="ana") == expected
    assert store.conversation(mine) is None and store.history(mine) == [] and store.state(mine).open_ticket is None
    assert store.ticket(f"FB-{mine[:8]}") is None and store.ticket(f"FB-{other[:8]}") is not None
    assert {r["conversation_id"] for r in store.iter_messages()} == {other}
    assert counts(store) == (1, 3, 2, 1)
    (entry,) = store.audit_log(mine)
    assert (entry["action"], entry["actor"], entry["counts"]) == ("erase", "ana", expected)
    assert entry["at"] is not None and CARD not in json.dumps(entry, default=str)
    assert f"erased conversation {mine} by ana" in caplog.text and CARD not in caplog.text
    assert store.erase_conversation(mine, by="ana") == dict.fromkeys(expected, 0)     # again: nothing, logged
    assert len(store.audit_log(mine)) == 2 and store.count(AuditEntry) == 2
    with pytest.raises(ValueError):
        store.erase_conversation(other, by="")
    assert store.conversation(other) is not None


def test_erase_on_sqlite(db, caplog):
    erase_roundtrip(Store(db), caplog)


@pytest.mark.slow
def test_erase_on_postgres(postgres_url, caplog):
    store = Store(postgres_url)
    with store.engine.begin() as con:  # start clean: the database may be reused across runs
        for table in ("audit_log", "corrections", "tickets", "messages", "conversations"):
            con.exec_driver_sql(f"DELETE FROM {table}")
    assert store.engine.dialect.name == "postgresql"
    erase_roundtrip(store, caplog)
    fill(store, "old")
    age(store, "old", 100)
    assert store.purge(datetime.now(timezone.utc) - timedelta(days=90), by="t")["messages"] == 3
    assert store.conversation("old") is None


def test_erase_command_by_token_public_id_or_conversation(db, capsys):
    store = Store(db)
    for token in ("tok-a", "tok-b", "tok-c"):
        fill(store, conversation_id(token))
    assert main(["erase", "--session", "tok-a", "--db", db, "--by", "dpo"]) == 0          # the secret token
    assert f"erased conversation {conversation_id('tok-a')}: 1 conversations, 3 messages" in capsys.readouterr().out
    assert main(["erase", "--session", conversation_id("tok-b"), "--db", db]) == 0        # the public id
    assert main(["erase", "--conversation", conversation_id("tok-c"), "--db", db]) == 0
    assert counts(store) == (0, 0, 0, 0)
    assert main(["erase", "--conversation", "no-such", "--db", db]) == 0
    assert "nothing is stored under conversation no-such" in capsys.readouterr().out.splitlines()[-1]
    audit = store.audit_log()
    assert [a["conversation_id"] for a in audit] == ["no-such", *(conversation_id(t) for t in ("tok-c", "tok-b",
                                                                                               "tok-a"))]
    assert audit[-1]["actor"] == "dpo" and audit[0]["actor"].startswith("cli")
    with pytest.raises(SystemExit):
        main(["erase", "--db", db])                # which conversation is required
