"""The console and the reply path on a big store: one million messages over a year, SQLite and PostgreSQL.

    python bench/console_scale.py [--messages 1000000] [--backends sqlite,postgresql]

Fills a fresh store (bulk inserts: 5 messages per conversation, spread over 365 days; labels, bands, channels,
kinds, ratings, 1 conversation in 20 with a ticket, some operator corrections), then times, three times each (the
median is reported; the very first dashboard view, which builds the daily roll-up, is timed once on its own), what
an operator does: the dashboard for the last 30 days and for the whole year, the open
ticket queue, a filtered search (label + channel + text), a conversation; and what a customer's reply costs the
store: ``state()`` + ``record_turn()`` per turn, on the empty store and on the full one (it must not grow).
Writes bench/results/console_scale.json and .md. PostgreSQL runs on a throwaway local cluster (tests/servers.py).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchkit import write_results  # noqa: E402

from bot.console_data import ConsoleData, Range  # noqa: E402
from bot.store import Conversation, Correction, Message, Store, Ticket, TurnRecord  # noqa: E402

LABELS = ["negative", "neutral", "positive"]
CHANNELS = ["widget", "gradio", "api", "cli"]
WORDS = ["late", "refund", "crew", "seat", "app", "login", "bag", "delivery", "staff", "price", "room", "food"]


def fill(store: Store, messages: int, seed: int = 0, batch: int = 20_000) -> float:
    """Bulk-insert ``messages`` messages (5 per conversation) over the last year; returns seconds."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    conversations = messages // 5
    with store.engine.begin() as conn:
        mid = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM messages").scalar()
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")        # the fill only: the bot runs with FULL
    for first in range(0, conversations, batch // 5):
        convs, msgs, tickets, corrections = [], [], [], []
        for c in range(first, min(conversations, first + batch // 5)):
            cid = f"bench{c:09d}"
            t0 = now - timedelta(days=rng.random() * 365)
            channel = rng.choice(CHANNELS)
            convs.append({"id": cid, "channel": channel, "created_at": t0, "language": "en",
                          "csat": rng.choice([None, None, None, 1, 2, 3, 4, 5]), "had_feedback": 1})
            ticket = f"FB-{c:08X}" if c % 20 == 0 else None
            for k in range(5):
                mid += 1
                label = rng.choice(LABELS)
                confidence = rng.uniform(0.34, 0.99)
                kind = "feedback" if k else rng.choice(["greeting", "feedback"])
                msgs.append({"id": mid, "conversation_id": cid, "channel": channel, "kind": kind,
                             "text": f"the {rng.choice(WORDS)} was {rng.choice(WORDS)} {mid}",
                             "label": label if kind == "feedback" else None,
                             "label_source": "model" if kind == "feedback" else None,
                             "probabilities": None, "confidence": confidence if kind == "feedback" else None,
                             "band": ("high" if confidence > 0.8 else "low") if kind == "feedback" else None,
                             "template": f"{label}_high", "reply": "thanks", "latency_ms": 5.0,
                             "model_version": "bench", "ticket": ticket if k == 1 else None,
                             "rating": rng.choice([None, None, None, 1, -1]), "language": "en",
                             "created_at": t0 + timedelta(minutes=k)})
                if kind == "feedback" and rng.random() < 0.01:
                    corrections.append({"message_id": mid, "label": rng.choice(LABELS), "source": "operator",
                                        "operator": "ana", "created_at": t0 + timedelta(days=1)})
            if ticket:
                tickets.append({"id": ticket, "message_id": mid - 3, "conversation_id": cid,
                                "status": "open" if rng.random() < 0.3 else "closed", "created_at": t0})
        with store.engine.begin() as conn:
            conn.execute(Conversation.__table__.insert(), convs)
            conn.execute(Message.__table__.insert(), msgs)
            if tickets:
                conn.execute(Ticket.__table__.insert(), tickets)
            if corrections:
                conn.execute(Correction.__table__.insert(), corrections)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:    # explicit ids do not advance the sequence: the bot's next id must
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT MAX(id) FROM messages))")
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def timed(fn, runs: int = 3) -> float:
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def reply_store_ms(store: Store, turns: int = 200) -> float:
    """Median ms of state() + record_turn() for new turns (what Bot.reply() spends in the store)."""
    costs = []
    for n in range(turns):
        cid = f"live{n % 20}-{time.time_ns()}"
        t0 = time.perf_counter()
        store.state(cid)
        store.record_turn(TurnRecord(conversation_id=cid, channel="api", text=f"late again {n}", kind="feedback",
                                     label="negative", probabilities={"negative": 0.9, "neutral": 0.05,
                                                                      "positive": 0.05}, band="high",
                                     template="negative_high", reply="sorry", latency_ms=5.0, model_version="bench"))
        costs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(costs)


def measure(url: str, messages: int) -> dict:
    store = Store(url)
    empty = reply_store_ms(store)
    fill_s = fill(store, messages)
    data = ConsoleData(store)
    month, year = Range.parse(None, None, 30), Range.parse(None, None, 365)
    conv = f"bench{(messages // 5) // 2:09d}"
    started = time.perf_counter()
    data.dashboard(year)                 # the first view after an upgrade counts every past day once
    first_view = time.perf_counter() - started
    result = {
        "messages": messages, "fill_seconds": fill_s, "dashboard_year_first_view_s": first_view,
        "dashboard_30_days_s": timed(lambda: data.dashboard(month)),
        "dashboard_year_s": timed(lambda: data.dashboard(year)),
        "dashboard_year_one_channel_s": timed(lambda: data.dashboard(year, "widget")),
        "open_tickets_s": timed(lambda: data.tickets("open")),
        "search_filtered_s": timed(lambda: data.search(q="refund", label="negative", channel="widget", r=year)),
        "search_text_only_s": timed(lambda: data.search(q="login was late")),
        "conversation_s": timed(lambda: data.conversation(conv)),
        "reply_store_ms_empty": empty, "reply_store_ms_full": reply_store_ms(store),
    }
    store.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--keep", action="store_true", help="add to bench/results/console_scale.json (other backends)")
    args = ap.parse_args()
    previous = ROOT / "bench" / "results" / "console_scale.json"
    report = json.loads(previous.read_text()) if args.keep and previous.is_file() else {}
    for backend in args.backends.split(","):
        if backend == "sqlite":
            report["sqlite"] = measure(f"sqlite:///{tempfile.mkdtemp()}/scale.sqlite3", args.messages)
        else:
            from servers import temporary_postgres

            with temporary_postgres() as url:
                report["postgresql"] = measure(url, args.messages)
        print(backend, report[backend], flush=True)
    rows = [("dashboard, whole year, first view ever (builds the daily roll-up, once)", "dashboard_year_first_view_s"),
            ("dashboard, last 30 days", "dashboard_30_days_s"), ("dashboard, whole year", "dashboard_year_s"),
            ("dashboard, year, one channel", "dashboard_year_one_channel_s"), ("open ticket queue", "open_tickets_s"),
            ("filtered search (text + label + channel, a year)", "search_filtered_s"),
            ("text search only (all time)", "search_text_only_s"), ("open one conversation", "conversation_s")]
    names = list(report)
    lines = [f"# Console and store at scale: {args.messages:,} messages over a year", "",
             "`python bench/console_scale.py` (2 CPU cores; median of 3 runs; seconds)", "",
             "| query | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
             *[f"| {label} | " + " | ".join(f"{report[n][key]:.3f}" for n in names) + " |" for label, key in rows],
             "", "| store time per reply (state + record_turn), ms | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names),
             "| empty store | " + " | ".join(f"{report[n]['reply_store_ms_empty']:.2f}" for n in names) + " |",
             f"| {args.messages:,} messages | " + " | ".join(f"{report[n]['reply_store_ms_full']:.2f}" for n in names)
             + " |", "", "Fill time: " + ", ".join(f"{n} {report[n]['fill_seconds']:.0f} s" for n in names) + "."]
    print(write_results(ROOT / "bench" / "results", "console_scale", report, "\n".join(lines)).read_text())


if __name__ == "__main__":
    main()
