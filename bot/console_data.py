"""What the operator console reads and writes: dashboard aggregates, the ticket queue, conversation search, the
review queue. Every list is paginated and filtered on indexed columns (created_at, label, band, rating, tickets'
status + created_at; see bot/store.py); free-text search is a LIKE within those filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .day_stats import IS_FEEDBACK, day_counts, known_channels
from .policy import CUSTOMER_BUTTON, CUSTOMER_TEXT, OPERATOR
from .store import Conversation, Correction, Message, Store, StoreError, Ticket

PAGE = 50
_m, _c, _t, _k = Message.__table__.c, Conversation.__table__.c, Ticket.__table__.c, Correction.__table__.c
_FEEDBACK = IS_FEEDBACK


def _utc(d: date, end: bool = False) -> datetime:
    return datetime.combine(d + timedelta(days=1) if end else d, time(), tzinfo=timezone.utc)


def _aware(t):
    return t.replace(tzinfo=timezone.utc) if isinstance(t, datetime) and t.tzinfo is None else t


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass
class Range:
    start: date
    end: date                    # inclusive

    @classmethod
    def parse(cls, start: str | None, end: str | None, days: int = 30) -> "Range":
        today = datetime.now(timezone.utc).date()
        try:
            e = date.fromisoformat(end) if end else today
        except ValueError:
            e = today
        try:
            s = date.fromisoformat(start) if start else e - timedelta(days=days - 1)
        except ValueError:
            s = e - timedelta(days=days - 1)
        return cls(min(s, e), max(s, e))

    def where(self, column):
        return and_(column >= _utc(self.start), column < _utc(self.end, end=True))


class ConsoleData:
    def __init__(self, store: Store):
        self.store = store
        self.engine = store.engine

    # --- dashboard ------------------------------------------------------------------------------------------------

    def dashboard(self, r: Range, channel: str | None = None) -> dict:
        """Message counts come from the daily roll-up (bot/day_stats.py) plus live counts of the last two days;
        conversations, hand-offs and CSAT are counted live (their tables are an order of magnitude smaller and
        a distinct count of hand-off conversations does not add up across days)."""
        rows = day_counts(self.engine, r.start, r.end, channel)
        days: dict[str, dict[str, int]] = {}
        per_channel: dict[str, int] = {}
        conf = [0] * 10
        for day, chan, label, feedback, bucket, n in rows:
            per_channel[chan] = per_channel.get(chan, 0) + n
            if feedback:
                if label:
                    days.setdefault(day, {})
                    days[day][label] = days[day].get(label, 0) + n
                if bucket >= 0:
                    conf[bucket] += n
        convs = [r.where(_c.created_at)] + ([_c.channel == channel] if channel else [])
        with self.engine.connect() as conn:
            n_conv = conn.execute(select(func.count()).select_from(Conversation.__table__).where(*convs)).scalar_one()
            handoffs = select(func.count(func.distinct(_t.conversation_id))).where(
                r.where(_t.created_at), _t.status != "withdrawn")
            if channel:   # a join: each ticket's conversation by primary key, not every conversation of the channel
                handoffs = handoffs.select_from(Ticket.__table__.join(
                    Conversation.__table__, _c.id == _t.conversation_id)).where(_c.channel == channel)
            handed = conn.execute(handoffs).scalar_one()
            csat = dict(conn.execute(select(_c.csat, func.count()).where(
                r.where(_c.csat_at), _c.csat.is_not(None), *([_c.channel == channel] if channel else []))
                .group_by(_c.csat)).all())
        labels = sorted({lab for counts in days.values() for lab in counts})
        n_csat = sum(csat.values())
        ordered_channels = sorted(per_channel.items(), key=lambda kv: (-kv[1], kv[0]))
        return {"range": r, "channel": channel, "channels": known_channels(self.engine), "labels": labels,
                "per_day": sorted(days.items()), "per_channel": ordered_channels,
                "confidence": conf, "conversations": n_conv, "handoffs": handed,
                "handoff_share": handed / n_conv if n_conv else None,
                "csat": {k: csat.get(k, 0) for k in range(1, 6)}, "csat_n": n_csat,
                "csat_avg": sum(k * v for k, v in csat.items()) / n_csat if n_csat else None,
                "messages": sum(per_channel.values())}

    # --- tickets --------------------------------------------------------------------------------------------------

    def tickets(self, status: str = "open", page: int = 0) -> tuple[list[dict], bool]:
        first = select(_m.text).where(_m.id == _t.message_id).scalar_subquery()
        order = _t.created_at.asc() if status == "open" else _t.created_at.desc()
        with self.engine.connect() as conn:
            rows = conn.execute(select(_t.id, _t.status, _t.created_at, _t.conversation_id, _t.contact_kind,
                                       _t.contact, _t.closed_at, _t.closed_by, _t.close_note, first.label("text"))
                                .where(_t.status == status).order_by(order, _t.id)
                                .offset(page * PAGE).limit(PAGE + 1)).all()
        return [self._ticket(r) for r in rows[:PAGE]], len(rows) > PAGE

    def ticket(self, ticket_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_t.id, _t.status, _t.created_at, _t.conversation_id, _t.contact_kind,
                                      _t.contact, _t.closed_at, _t.closed_by, _t.close_note, _t.message_id)
                               .where(_t.id == ticket_id)).first()
        return None if row is None else self._ticket(row)

    @staticmethod
    def _ticket(row) -> dict:
        d = dict(row._mapping)
        d["created_at"] = _aware(d["created_at"])
        d["age"] = datetime.now(timezone.utc) - d["created_at"] if d["created_at"] else None
        return d

    def close_ticket(self, ticket_id: str, operator: str, note: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(update(Ticket.__table__).where(_t.id == ticket_id, _t.status == "open").values(
                status="closed", closed_at=datetime.now(timezone.utc), closed_by=operator,
                close_note=note.strip()[:2000] or None)).rowcount == 1

    def reopen_ticket(self, ticket_id: str) -> bool:
        """False when it is not closed, or its conversation has another open ticket (one open per conversation)."""
        try:
            with self.engine.begin() as conn:
                return conn.execute(update(Ticket.__table__).where(_t.id == ticket_id, _t.status == "closed")
                                    .values(status="open", closed_at=None)).rowcount == 1
        except IntegrityError:
            return False

    # --- conversations --------------------------------------------------------------------------------------------

    def search(self, q: str = "", label: str = "", band: str = "", kind: str = "", channel: str = "",
               rating: str = "", r: Range | None = None, page: int = 0) -> tuple[list[dict], bool]:
        where = []
        if r is not None:
            where.append(r.where(_m.created_at))
        if q:
            where.append(_m.text.ilike(_like(q[:200]), escape="\\"))
        if label:
            where.append(_m.label == label)
        if band:
            where.append(_m.band == band)
        if kind:
            where.append(_FEEDBACK if kind == "feedback" else _m.kind == kind)
        if channel:
            where.append(_m.channel == channel)
        if rating in ("1", "-1"):
            where.append(_m.rating == int(rating))
        with self.engine.connect() as conn:
            rows = conn.execute(select(_m.id, _m.conversation_id, _m.channel, _m.kind, _m.text, _m.label,
                                       _m.confidence, _m.band, _m.rating, _m.ticket, _m.created_at, _m.withdrawn_at)
                                .where(*where).order_by(_m.created_at.desc(), _m.id.desc())
                                .offset(page * PAGE).limit(PAGE + 1)).all()
        return [dict(x._mapping) for x in rows[:PAGE]], len(rows) > PAGE

    def conversation(self, conversation_id: str) -> tuple[dict | None, list[dict], dict[int, list[dict]]]:
        with self.engine.connect() as conn:
            conv = conn.execute(select(Conversation.__table__).where(_c.id == conversation_id)).first()
            if conv is None:
                return None, [], {}
            msgs = conn.execute(select(Message.__table__).where(_m.conversation_id == conversation_id)
                                .order_by(_m.id).limit(2000)).all()
            corr = conn.execute(select(_k.message_id, _k.label, _k.source, _k.operator, _k.created_at).where(
                _k.message_id.in_([x.id for x in msgs])).order_by(_k.id)).all()
        by_msg: dict[int, list[dict]] = {}
        for c in corr:
            by_msg.setdefault(c.message_id, []).append(dict(c._mapping))
        return dict(conv._mapping), [dict(x._mapping) for x in msgs], by_msg

    # --- review queue ---------------------------------------------------------------------------------------------

    def review(self, page: int = 0) -> tuple[list[dict], bool]:
        """Feedback messages a person should look at: low confidence, thumbs-down, or corrected by the customer;
        those an operator already labelled leave the queue. Newest first."""
        customer = exists().where(_k.message_id == _m.id, _k.source.in_((CUSTOMER_BUTTON, CUSTOMER_TEXT)))
        operator = exists().where(_k.message_id == _m.id, _k.source == OPERATOR)
        said = (select(_k.label).where(_k.message_id == _m.id, _k.source.in_((CUSTOMER_BUTTON, CUSTOMER_TEXT)))
                .order_by(_k.id.desc()).limit(1).scalar_subquery())
        with self.engine.connect() as conn:
            rows = conn.execute(select(_m.id, _m.conversation_id, _m.channel, _m.text, _m.label, _m.confidence,
                                       _m.band, _m.rating, _m.created_at, said.label("customer_label"))
                                .where(_m.withdrawn_at.is_(None), _FEEDBACK,
                                       or_(_m.band == "low", _m.rating == -1, customer), ~operator)
                                .order_by(_m.id.desc()).offset(page * PAGE).limit(PAGE + 1)).all()
        return [dict(x._mapping) for x in rows[:PAGE]], len(rows) > PAGE

    def relabel(self, message_id: int, label: str, operator: str) -> None:
        try:
            self.store.add_correction(message_id, label, source=OPERATOR, operator=operator)
        except StoreError:
            raise
