"""The dashboard's daily roll-up: the same numbers as counting every message, before and after it is built, and
withdrawals and erasures of past days reach it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import uuid

import pytest
from sqlalchemy import func, select, update

from bot.console_data import ConsoleData, Range
from bot.store import Message, StatDay, Store, TurnRecord

LABELS = ("negative", "neutral", "positive")
CONFIDENCES = (0.35, 0.55, 0.75, 0.95, None)


def fill(store: Store, days: int = 9) -> list[int]:
    """Messages on each of the last ``days`` days: three channels, labels, kinds, confidences; backdated."""
    today = datetime.now(timezone.utc).date()
    ids = []
    for d in range(days):
        at = datetime.combine(today - timedelta(days=d), time(12), tzinfo=timezone.utc)
        for i in range(4 + d % 3):
            conf = CONFIDENCES[(d + i) % len(CONFIDENCES)]
            label = LABELS[(d * 2 + i) % 3] if conf is not None else None
            probs = None if conf is None else {lab: (conf if lab == label else (1 - conf) / 2) for lab in LABELS}
            kind = "feedback" if conf is not None else ("greeting" if i % 2 else "question")
            mid = store.record_turn(TurnRecord(
                conversation_id=f"c{d}-{i % 2}", channel=("api", "widget", "gradio")[(d + i) % 3],
                text=f"message {d}/{i}", kind=kind, label=label, probabilities=probs,
                band=None if conf is None else "high", template="t", reply="r", latency_ms=1.0, model_version="m"))
            with store.engine.begin() as conn:
                conn.execute(update(Message.__table__).where(Message.__table__.c.id == mid).values(created_at=at))
            ids.append(mid)
    return ids


def counted_by_hand(store: Store, r: Range, channel: str | None = None) -> dict:
    m = Message.__table__.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(m.created_at, m.channel, m.kind, m.label, m.confidence)
                            .where(m.withdrawn_at.is_(None))).all()
    per_day, per_channel, conf = {}, {}, [0] * 10
    for at, chan, kind, label, c in rows:
        day = (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).date()
        if not (r.start <= day <= r.end) or (channel and chan != channel):
            continue
        per_channel[chan] = per_channel.get(chan, 0) + 1
        if kind in (None, "feedback"):
            if label:
                per_day.setdefault(day.isoformat(), {}).setdefault(label, 0)
                per_day[day.isoformat()][label] += 1
            if c is not None:
                conf[min(int(c * 10), 9)] += 1
    return {"per_day": sorted(per_day.items()), "per_channel": per_channel, "confidence": conf,
            "messages": sum(per_channel.values())}


def shown(d: dict) -> dict:
    return {"per_day": d["per_day"], "per_channel": dict(d["per_channel"]), "confidence": d["confidence"],
            "messages": d["messages"]}


def stat_days(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(StatDay.__table__)).scalar_one()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}")
        yield s
        s.close()
        return
    # A database of its own in the shared test cluster: the roll-up counts every message in it.
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"daystats_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    s = Store(server.set(database=name).render_as_string(hide_password=False))
    yield s
    s.close()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def test_the_roll_up_gives_the_numbers_counting_every_message_gives_and_follows_withdrawals_and_erasure(store):
    ids = fill(store)
    data = ConsoleData(store)
    week, all_days = Range.parse(None, None, days=7), Range.parse(None, None, days=30)
    assert stat_days(store) == 0
    for r in (week, all_days):
        assert shown(data.dashboard(r)) == counted_by_hand(store, r)          # cold: builds the roll-up
    assert stat_days(store) == 9 - 2        # every complete day since the first message; yesterday and today live
    for r in (week, all_days):
        assert shown(data.dashboard(r)) == counted_by_hand(store, r)          # warm: read from it
        assert shown(data.dashboard(r, "widget")) == counted_by_hand(store, r, "widget")
    assert data.dashboard(all_days)["messages"] == len(ids)

    # A withdrawal five days back and an erased conversation three days back leave the dashboard at once.
    five_days_ago = ids[sum(4 + d % 3 for d in range(5))]
    before = data.dashboard(all_days)["messages"]
    assert store.withdraw("c5-0", [five_days_ago]) == 1
    assert data.dashboard(all_days)["messages"] == before - 1
    store.erase_conversation("c3-1", by="test")
    assert shown(data.dashboard(all_days)) == counted_by_hand(store, all_days)
    assert shown(data.dashboard(week, "api")) == counted_by_hand(store, week, "api")

    # Today's turn is counted live.
    store.record_turn(TurnRecord(conversation_id="now", channel="api", text="x", kind="feedback", label="positive",
                                 probabilities={"negative": 0.05, "neutral": 0.05, "positive": 0.9}, band="high",
                                 template="t", reply="r", latency_ms=1.0, model_version="m"))
    assert shown(data.dashboard(all_days)) == counted_by_hand(store, all_days)
    assert "api" in data.dashboard(all_days)["channels"]
