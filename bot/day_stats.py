"""Daily roll-ups of message counts, so the dashboard of a whole year reads ~1,500 small rows, not a year of messages.

A complete UTC day (older than yesterday) is counted once, by channel, model label, feedback or not, and
confidence decile, into ``message_day_stats``, and listed in ``stat_days``. The dashboard reads those rows for the
past days of its range and counts yesterday and today live (a turn can still be committing across midnight).

The roll-up is derived data, never edited: every write that changes a past day's messages (a withdrawal, an
erase, a purge) deletes that day's rows in its own transaction (``bot.store.forget_days``), and the next view
counts the day again from what is stored. So erased customers leave the dashboard too. The first view after an
upgrade counts every day in its range once (the old whole-year cost, once); each later day adds one small query.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from .store import Message, MessageDayStat, StatDay, utc_day

LIVE_DAYS = 2           # today and yesterday are always counted live
_m = Message.__table__.c
_s, _d = MessageDayStat.__table__, StatDay.__table__

IS_FEEDBACK = or_(_m.kind.is_(None), _m.kind == "feedback")     # also the console's filter (bot/console_data.py)
FEEDBACK = case((IS_FEEDBACK, 1), else_=0)
BUCKET = case((_m.confidence.is_(None), -1), *[(_m.confidence < (i + 1) / 10, i) for i in range(9)], else_=9)


def _bounds(d: date) -> tuple[datetime, datetime]:
    start = datetime.combine(d, time(), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def count_day(conn, d: date, channel: str | None = None) -> list[tuple[str, str, int, int, int]]:
    """(channel, label or '', feedback 0/1, bucket, n) of day ``d``'s messages that were not withdrawn."""
    start, end = _bounds(d)
    where = [_m.created_at >= start, _m.created_at < end, _m.withdrawn_at.is_(None)]
    if channel:
        where.append(_m.channel == channel)
    label = func.coalesce(_m.label, "")
    rows = conn.execute(select(_m.channel, label, FEEDBACK, BUCKET, func.count()).where(*where)
                        .group_by(_m.channel, label, FEEDBACK, BUCKET)).all()
    return [(c, lab, int(fb), int(b), int(n)) for c, lab, fb, b, n in rows]


def first_live_day(today: date | None = None) -> date:
    today = today or datetime.now(timezone.utc).date()
    return today - timedelta(days=LIVE_DAYS - 1)


def roll_up(engine, days: list[date], per_transaction: int = 31) -> int:
    """Count the given complete days that are not rolled up yet (up to ``per_transaction`` days per transaction);
    returns how many were counted."""
    if not days:
        return 0
    keys = [d.isoformat() for d in days]
    with engine.connect() as conn:
        done = set()
        for start in range(0, len(keys), 500):
            done |= set(conn.execute(select(_d.c.day).where(_d.c.day.in_(keys[start:start + 500]))).scalars())
    todo = [d for d in days if d.isoformat() not in done]
    counted = 0
    for start in range(0, len(todo), per_transaction):
        chunk = todo[start:start + per_transaction]
        try:
            with engine.begin() as conn:
                now = datetime.now(timezone.utc)
                conn.execute(insert(_d), [{"day": d.isoformat(), "computed_at": now} for d in chunk])
                rows = [{"day": d.isoformat(), "channel": c, "label": lab, "feedback": fb, "bucket": b, "n": n}
                        for d in chunk for c, lab, fb, b, n in count_day(conn, d)]
                if rows:
                    conn.execute(insert(_s), rows)
            counted += len(chunk)
        except IntegrityError:      # another view counted these days at the same moment: theirs stand
            continue
    return counted


def stored_span(engine) -> tuple[date, date] | None:
    """UTC days of the oldest and newest stored message (index lookups), None for an empty store."""
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(_m.created_at), func.max(_m.created_at))).one()
    if first is None:
        return None
    return date.fromisoformat(utc_day(first)), date.fromisoformat(utc_day(last))


def day_counts(engine, start: date, end: date, channel: str | None = None,
               today: date | None = None) -> list[tuple[str, str, str, int, int, int]]:
    """(day, channel, label, feedback, bucket, n) for every day in [start, end] that has messages: rolled up for
    complete days, counted live for the last ``LIVE_DAYS``. Days before the first or after the last stored
    message are not visited, so a range of decades costs what the stored days cost."""
    span = stored_span(engine)
    if span is None:
        return []
    start, end = max(start, span[0]), min(end, span[1])
    if start > end:
        return []
    live_from = first_live_day(today)
    past_end = min(end, live_from - timedelta(days=1))
    past = [start + timedelta(days=i) for i in range((past_end - start).days + 1)] if start <= past_end else []
    roll_up(engine, past)
    out: list[tuple[str, str, str, int, int, int]] = []
    with engine.connect() as conn:
        if past:
            where = [_s.c.day >= past[0].isoformat(), _s.c.day <= past[-1].isoformat()]
            if channel:
                where.append(_s.c.channel == channel)
            out += [tuple(r) for r in conn.execute(select(_s.c.day, _s.c.channel, _s.c.label, _s.c.feedback,
                                                          _s.c.bucket, _s.c.n).where(*where)).all()]
        d = max(start, live_from)
        while d <= end:
            out += [(d.isoformat(), *row) for row in count_day(conn, d, channel)]
            d += timedelta(days=1)
    return out


def known_channels(engine, live_from: date | None = None) -> list[str]:
    """Every channel seen in the roll-up or in the live days (for the dashboard's channel filter)."""
    live_from = live_from or first_live_day()
    with engine.connect() as conn:
        rolled = set(conn.execute(select(_s.c.channel).distinct()).scalars())
        live = set(conn.execute(select(_m.channel).distinct().where(
            and_(_m.created_at >= _bounds(live_from)[0]))).scalars())
    return sorted(rolled | live)
