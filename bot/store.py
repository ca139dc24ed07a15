"""The feedback store: every message, prediction, reply, rating, correction and hand-off ticket.

SQLAlchemy 2. SQLite by default (a file in the user data dir, WAL journal, synchronous=FULL so an acknowledged
message survives a crash), PostgreSQL by URL (``FEEDBACKBOT_DB_URL=postgresql+psycopg://user:pw@host/db``)
for several bot replicas sharing one store.

What is stored must be true, because it is the next fine-tune's training data:
- every label carries its provenance (``messages.label_source`` = model; ``corrections.source`` = customer_button,
  customer_text or operator);
- a rating is the message's current state (up, down or none), not a stream of clicks;
- a conversation has at most one open hand-off ticket (a partial unique index enforces it under concurrency);
- a client's retry of the same message (same ``client_message_id``) is stored once (a unique index);
- messages the customer took back (undo, edit, a cleared chat) are marked withdrawn, never deleted, and lose their
  rating and the corrections they made.
Every write that names a message checks that it belongs to the caller's conversation.

Hand-off notifications go through a transactional outbox: the event rows (one per configured webhook URL) are
written in the same transaction as the ticket (or the thumbs-down) they announce, so no ticket exists without its
notification and none is announced that was rolled back; bot.webhooks delivers them.
Data protection (README "Data protection"): with ``[store] redact`` the bot stores message text redacted
(``messages.redacted`` = 1 when something was replaced, 0 when nothing was found, NULL when redaction was off);
``purge()`` deletes conversations idle since before a cutoff (``conversations.last_active_at``, indexed) and
``erase_conversation()`` one customer's conversation; both delete its messages (with their ratings), corrections and
tickets in one transaction per conversation batch and write an ``audit_log`` line (counts and who, never text).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from pathlib import Path
from typing import Iterator

import platformdirs
from sqlalchemy import (JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, and_, bindparam, or_,
                        create_engine, delete, event, func, insert, select, update)
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .policy import CUSTOMER_BUTTON, CUSTOMER_TEXT, HUMAN_SOURCES, OPERATOR, Pending


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)     # sessions.conversation_id(token)
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # The open question (policy.Pending): the reply of message `pending_asked_in` asks about `pending_target_id`.
    pending_target_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pending_asked_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pending_leaning: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pending_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    had_feedback: Mapped[int | None] = mapped_column(Integer, nullable=True)      # 1 once feedback was given
    csat: Mapped[int | None] = mapped_column(Integer, nullable=True)              # 1-5, the customer's rating
    csat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    csat_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (Index("ix_conversations_created_at", "created_at"), Index("ix_conversations_csat_at", "csat_at"),
                      # the dashboard filtered by one channel counts conversations and CSAT of that channel
                      Index("ix_conversations_channel_created", "channel", "created_at"),
                      Index("ix_conversations_channel_csat", "channel", "csat_at"))
    # The customer's last turn, rating, correction or undo (retention: `feedbackbot purge`).
    last_active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    # feedback | answer (to the bot's question) | greeting | thanks | question | person | ticket | a business kind
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    clauses: Mapped[list | None] = mapped_column(JSON, nullable=True)     # mixed feedback: [{text, label, confidence}]
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    label_source: Mapped[str | None] = mapped_column(String(16), nullable=True)   # "model" when label is set
    probabilities: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    band: Mapped[str | None] = mapped_column(String(8), nullable=True)
    template: Mapped[str] = mapped_column(String(64))
    reply: Mapped[str] = mapped_column(Text)
    latency_ms: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(128))
    ticket: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    in_reply_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)              # +1 up, -1 down, NULL none
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    redacted: Mapped[int | None] = mapped_column(Integer, nullable=True)   # 1 replaced, 0 none found, NULL off
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # A retry (same client id) is stored once; a withdrawn message no longer holds its id, so a customer who undid
    # a message and typed the same words again is heard again.
    # The console's lists and dashboard filter by date, label, band and rating (bot/console_data.py).
    __table_args__ = (Index("ux_messages_client_id", "conversation_id", "client_message_id", unique=True,
                            sqlite_where=sql("client_message_id IS NOT NULL AND withdrawn_at IS NULL"),
                            postgresql_where=sql("client_message_id IS NOT NULL AND withdrawn_at IS NULL")),
                      Index("ix_messages_created_at", "created_at"),
                      Index("ix_messages_label_created", "label", "created_at"),
                      Index("ix_messages_band", "band"),
                      Index("ix_messages_rating", "rating"))


class Correction(Base):
    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))      # customer_button | customer_text | operator (| legacy-*)
    by_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # the answer turn
    operator: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")     # open | closed | withdrawn | merged
    contact_kind: Mapped[str | None] = mapped_column(String(8), nullable=True)   # email | phone | chat
    contact: Mapped[str | None] = mapped_column(String(254), nullable=True)       # given by the customer, asked for
    contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # (= their consent)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)      # the operator's name
    close_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ux_tickets_one_open", "conversation_id", unique=True,
                            sqlite_where=sql("status = 'open'"), postgresql_where=sql("status = 'open'")),
                      Index("ix_tickets_status_created", "status", "created_at"))


class Operator(Base):
    """A console account (``feedbackbot operators add``). role: viewer (read-only) | agent."""
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))          # argon2id (bot/operators.py)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)   # consecutive; reset by a good login
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class OperatorSession(Base):
    """A console login: the cookie holds a random token, the table only its SHA-256 (a stolen table opens
    nothing); ``csrf`` is the session's synchronizer token for forms."""
    __tablename__ = "operator_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Outbox(Base):
    """Webhook deliveries: one row per event and URL. status: pending (due at next_attempt_at; while a worker
    holds it, next_attempt_at is its lease) | delivered | failed (max_attempts reached)."""
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(32))              # ticket.opened | message.thumbs_down
    idempotency_key: Mapped[str] = mapped_column(String(64))         # the event's id, the same for every URL
    payload: Mapped[str] = mapped_column(Text)                       # the exact JSON body POSTed
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)   # status code or error class
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ux_outbox_event_url", "idempotency_key", "url", unique=True))


class ModelVersion(Base):
    """A model the bot can serve (bot.registry): its directory, its scores on the fixed held-out suites, and its
    state. Exactly one version is "serving"; running bots follow it (bot.reloader)."""
    __tablename__ = "model_versions"
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    path: Mapped[str] = mapped_column(Text)                     # merged model directory or adapter directory
    labels: Mapped[list] = mapped_column(JSON)
    scores: Mapped[dict] = mapped_column(JSON)                  # suite -> accuracy (bot.registry.evaluate)
    card: Mapped[dict] = mapped_column(JSON)                    # data fingerprint, base, metrics from feedbackbot.json
    status: Mapped[str] = mapped_column(String(16), default="candidate")    # candidate | serving | retired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ModelEvent(Base):
    """Every promote and rollback, in order: what rollback goes back to, and the audit trail."""
    __tablename__ = "model_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))             # promote | rollback | add
    version: Mapped[str] = mapped_column(String(128))
    previous: Mapped[str | None] = mapped_column(String(128), nullable=True)
    forced: Mapped[int | None] = mapped_column(Integer, nullable=True)
    by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class MessageDayStat(Base):
    """Dashboard roll-up (bot/day_stats.py): message counts of one complete UTC day by channel, model label ('' =
    none), feedback or not, and confidence decile (-1 = none). Derived data: deleted and rebuilt, never edited."""
    __tablename__ = "message_day_stats"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)          # YYYY-MM-DD (UTC)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    feedback: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class StatDay(Base):
    """The days whose roll-up rows are complete (a day with no messages has no rows but is still listed)."""
    __tablename__ = "stat_days"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AuditEntry(Base):
    """What was deleted, when and by whom: counts only, never the deleted text."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    action: Mapped[str] = mapped_column(String(32))                 # erase | purge
    conversation_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    counts: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    actor: Mapped[str] = mapped_column(String(128))


_conversations, _messages, _tickets = Conversation.__table__, Message.__table__, Ticket.__table__
_outbox = Outbox.__table__
_corrections, _audit = Correction.__table__, AuditEntry.__table__
_STATE = select(_conversations.c.pending_target_id, _conversations.c.pending_asked_in, _conversations.c.pending_leaning,
                _conversations.c.pending_kind, _conversations.c.language, _conversations.c.had_feedback,
                _conversations.c.csat_asked_at).where(_conversations.c.id == bindparam("cid"))
_LAST_MESSAGE = (select(_messages.c.id).where(_messages.c.conversation_id == bindparam("cid"))
                 .order_by(_messages.c.id.desc()).limit(1))
_OPEN_TICKET = select(_tickets.c.id).where(_tickets.c.conversation_id == bindparam("cid"),
                                           _tickets.c.status == "open").limit(1)
_BY_CLIENT_ID = select(_messages).where(_messages.c.conversation_id == bindparam("cid"),
                                        _messages.c.client_message_id == bindparam("client_id"),
                                        _messages.c.withdrawn_at.is_(None))
_INSERT_CONVERSATION = insert(_conversations)
_INSERT_MESSAGE = insert(_messages)
_INSERT_TICKET = insert(_tickets)
_INSERT_CORRECTION = insert(Correction.__table__)
_INSERT_OUTBOX = insert(_outbox)
_SET_PENDING = update(_conversations).where(_conversations.c.id == bindparam("cid")).values(
    pending_target_id=bindparam("target"), pending_asked_in=bindparam("asked_in"),
    pending_leaning=bindparam("leaning"), pending_kind=bindparam("kind"), last_active_at=bindparam("now"))
# Every turn's one write of the conversation row: the open question, activity, and (when the turn says) language
# and that feedback was given.
_SET_TURN = _SET_PENDING.values(language=func.coalesce(bindparam("language"), _conversations.c.language),
                                had_feedback=func.coalesce(bindparam("had_feedback"), _conversations.c.had_feedback))
_TOUCH = update(_conversations).where(_conversations.c.id == bindparam("cid")).values(last_active_at=bindparam("now"))
log = logging.getLogger("feedbackbot.store")


class StoreError(RuntimeError):
    """The store is unreachable or a referenced row does not exist."""


class NotFound(StoreError):
    """No such message in the caller's conversation (also when it exists in another one: never say which)."""


class DuplicateTurn(StoreError):
    """Another request stored this turn first (same client_message_id, or a second open ticket); retry the turn."""


@dataclass(frozen=True)
class ConversationState:
    pending: Pending | None
    last_message_id: int | None
    open_ticket: str | None
    language: str | None = None
    had_feedback: bool = False
    csat_asked: bool = False


@dataclass(frozen=True)
class TurnRecord:
    conversation_id: str
    channel: str
    text: str
    kind: str                                  # feedback | answer
    label: str | None                          # the model's label (feedback turns)
    probabilities: dict | None
    band: str | None
    template: str
    reply: str
    latency_ms: float
    model_version: str
    ticket: str | None = None                  # the hand-off ticket this turn belongs to
    ticket_is_new: bool = False                # ...which this turn opens
    correction: tuple[int, str, str] | None = None   # (target message id, label, source)
    ask: tuple[str, str] | None = None         # (kind, leaning): this reply asks a question
    ask_target: int | None = None              # the message it asks about (None: this very message)
    client_message_id: str | None = None
    in_reply_to: int | None = None
    language: str | None = None
    clauses: list | None = None
    csat: int | None = None                    # the customer's CSAT rating, given in this turn
    contact: tuple[str, str] | None = None     # (kind, value) for the conversation's open ticket
    ask_csat: bool = False
    close: bool = False
    redacted: bool | None = None               # text (reply, clauses) redacted: True replaced, False none found


def default_url() -> str:
    data_dir = Path(platformdirs.user_data_dir("feedbackbot"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'feedback.sqlite3'}"


def new_ticket_id() -> str:
    return "FB-" + secrets.token_hex(4).upper()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return _slack_escape(line if len(line) <= limit else line[:limit - 1] + "\u2026")


def url_host(url: str) -> str:
    """What may be shown of a webhook URL (its path can be the secret, as in Slack's)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


class Store:
    def __init__(self, url: str = "", notify_urls: list[str] | tuple[str, ...] = (), notify_thumbs_down: bool = False):
        """``notify_urls``: webhook URLs that get an outbox row for every new ticket (and, with
        ``notify_thumbs_down``, every thumbs-down)."""
        from .store_migrations import upgrade

        self.url = url or default_url()
        self.notify_urls, self.notify_thumbs_down = tuple(notify_urls), notify_thumbs_down
        self.outbox_written = threading.Event()     # set after a commit that queued a delivery (wakes the worker)
        if self.url.startswith("sqlite"):
            self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        try:
            upgrade(self.engine, Base.metadata)
        except Exception as exc:
            raise StoreError(f"cannot open the feedback store "
                             f"{self.engine.url.render_as_string(hide_password=True)!r}: {exc}") from None
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # state() and record_turn() run on every reply, so they execute SQLAlchemy Core statements built once with
    # bound parameters (compiled once, then cached) rather than the ORM's unit of work: measured on SQLite,
    # 2.0 -> 0.4 ms per reply.

    def state(self, conversation_id: str) -> ConversationState:
        with self.engine.connect() as conn:
            conv = conn.execute(_STATE, {"cid": conversation_id}).first()
            last = conn.execute(_LAST_MESSAGE, {"cid": conversation_id}).scalar()
            ticket = conn.execute(_OPEN_TICKET, {"cid": conversation_id}).scalar()
        pending = None
        if conv is not None and conv.pending_target_id is not None and conv.pending_asked_in is not None:
            pending = Pending(conv.pending_target_id, conv.pending_asked_in, conv.pending_leaning or "",
                              conv.pending_kind or "confirm")
        if conv is None:
            return ConversationState(pending, last, ticket)
        return ConversationState(pending, last, ticket, conv.language, bool(conv.had_feedback),
                                 conv.csat_asked_at is not None)

    def exists(self, conversation_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(_STATE, {"cid": conversation_id}).first() is not None

    def create_conversation(self, conversation_id: str, channel: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_INSERT_CONVERSATION, {"id": conversation_id, "channel": channel, "last_active_at": _now()})

    def find_turn(self, conversation_id: str, client_message_id: str) -> dict | None:
        """The stored turn a client already sent under this id (a retry), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(_BY_CLIENT_ID, {"cid": conversation_id, "client_id": client_message_id}).first()
        return None if row is None else dict(row._mapping)

    def record_turn(self, turn: TurnRecord) -> int:
        """Store one exchange atomically: message, ticket, correction and the conversation's open question.

        Raises DuplicateTurn when a concurrent request stored the same client message id or opened the
        conversation's ticket first; the caller re-reads the state and answers again.
        """
        try:
            with self.engine.begin() as conn:
                now = _now()
                if conn.execute(_STATE, {"cid": turn.conversation_id}).first() is None:
                    conn.execute(_INSERT_CONVERSATION, {"id": turn.conversation_id, "channel": turn.channel,
                                                        "last_active_at": now})
                message_id = conn.execute(_INSERT_MESSAGE, {
                    "conversation_id": turn.conversation_id, "channel": turn.channel, "kind": turn.kind,
                    "text": turn.text, "label": turn.label, "label_source": "model" if turn.label else None,
                    "probabilities": turn.probabilities,
                    "confidence": max(turn.probabilities.values()) if turn.probabilities else None,
                    "band": turn.band, "template": turn.template, "reply": turn.reply,
                    "latency_ms": turn.latency_ms, "model_version": turn.model_version, "ticket": turn.ticket,
                    "client_message_id": turn.client_message_id, "in_reply_to": turn.in_reply_to,
                    "language": turn.language, "clauses": turn.clauses,
                    "redacted": None if turn.redacted is None else int(turn.redacted),
                }).inserted_primary_key[0]
                queued = False
                if turn.ticket and turn.ticket_is_new:
                    opened = _now()
                    conn.execute(_INSERT_TICKET, {"id": turn.ticket, "message_id": message_id, "status": "open",
                                                  "conversation_id": turn.conversation_id, "created_at": opened})
                    queued = self._queue_event(conn, "ticket.opened", f"ticket.opened:{turn.ticket}", {
                        "ticket": turn.ticket, "conversation_id": turn.conversation_id,
                        "message": self._event_message(message_id, turn.channel, turn.kind, turn.text, turn.label,
                                                       turn.probabilities, turn.language, turn.reply),
                        "created_at": opened.isoformat(),
                        "text": f"New hand-off ticket {turn.ticket} ({turn.channel}): \u201c{_one_line(turn.text)}"
                                "\u201d"}, opened)
                if turn.correction:
                    target, label, source = turn.correction
                    conn.execute(_INSERT_CORRECTION, {"message_id": target, "label": label, "source": source,
                                                      "by_message_id": message_id})
                kind, leaning = turn.ask or (None, None)
                conn.execute(_SET_TURN, {"cid": turn.conversation_id,
                                         "target": (turn.ask_target or message_id) if kind else None,
                                         "asked_in": message_id if kind else None,
                                         "leaning": leaning, "kind": kind, "now": now, "language": turn.language,
                                         "had_feedback": 1 if turn.kind == "feedback" and turn.label else None})
                self._record_conversation(conn, turn, now)
            if queued:
                self.outbox_written.set()
            return message_id
        except IntegrityError as exc:
            raise DuplicateTurn(str(exc.orig)) from None

    @staticmethod
    def _event_message(message_id: int, channel: str, kind: str | None, text: str, label: str | None,
                       probabilities: dict | None, language: str | None, reply: str) -> dict:
        return {"id": message_id, "channel": channel, "kind": kind, "text": text, "label": label,
                "confidence": max(probabilities.values()) if probabilities else None, "language": language,
                "reply": reply}

    def _queue_event(self, conn, event_type: str, key: str, fields: dict, at: datetime) -> bool:
        """Queue one event for every configured URL, on ``conn`` (the caller's transaction). The body is fixed
        here, so every attempt (and every URL) gets the same bytes."""
        if not self.notify_urls:
            return False
        body = json.dumps({"type": event_type, "id": key, **fields}, ensure_ascii=False, separators=(",", ":"))
        conn.execute(_INSERT_OUTBOX, [{"event_type": event_type, "idempotency_key": key, "payload": body, "url": url,
                                       "status": "pending", "attempts": 0, "next_attempt_at": at, "created_at": at}
                                      for url in self.notify_urls])
        return True

    @staticmethod
    def _record_conversation(conn, turn: TurnRecord, now: datetime) -> None:
        """What a few turns change besides (record_turn's own update writes language and feedback given): CSAT
        asked or given, closing, the ticket's contact."""
        values: dict = {}
        if turn.ask_csat:
            values["csat_asked_at"] = now
        if turn.csat is not None:
            values.update(csat=turn.csat, csat_at=now)
        if turn.close:
            values["closed_at"] = now
        if values:
            conn.execute(update(_conversations).where(_conversations.c.id == turn.conversation_id).values(**values))
        if turn.contact and turn.ticket:
            conn.execute(update(_tickets).where(_tickets.c.id == turn.ticket).values(
                contact_kind=turn.contact[0], contact=turn.contact[1], contact_at=now))

    def message_text(self, conversation_id: str, message_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(_messages.c.text).where(_messages.c.id == message_id,
                                                               _messages.c.conversation_id == conversation_id)).scalar()

    def conversation(self, conversation_id: str) -> dict | None:
        """The conversation row (language, CSAT, ...), for channels and the console."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_conversations).where(_conversations.c.id == conversation_id)).first()
        return None if row is None else dict(row._mapping)

    def ticket(self, ticket_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_tickets).where(_tickets.c.id == ticket_id)).first()
        return None if row is None else dict(row._mapping)

    # --- what a customer's client may do with its own conversation --------------------------------------------

    def set_rating(self, conversation_id: str, message_id: int, value: int) -> None:
        """Set a message's rating: +1, -1, or 0 (none). Idempotent."""
        if value not in (1, 0, -1) or isinstance(value, bool):
            raise ValueError("rating must be 1, -1 or 0")
        mine = and_(_messages.c.id == message_id, _messages.c.conversation_id == conversation_id,
                    _messages.c.withdrawn_at.is_(None))
        queued = False
        with self.engine.begin() as conn:
            if value == -1 and self.notify_urls and self.notify_thumbs_down:
                # Only a change to thumbs-down is an event (a repeated click is not): the conditional update
                # decides, also between concurrent clicks (the row lock on PostgreSQL, one writer on SQLite).
                now = _now()
                changed = conn.execute(update(_messages).where(mine, or_(_messages.c.rating.is_(None),
                                                                         _messages.c.rating != -1))
                                       .values(rating=-1, rated_at=now)).rowcount
                if changed:
                    m = conn.execute(select(_messages).where(_messages.c.id == message_id)).one()
                    queued = self._queue_event(conn, "message.thumbs_down", f"thumbs_down:{secrets.token_hex(8)}", {
                        "ticket": m.ticket, "conversation_id": conversation_id,
                        "message": self._event_message(m.id, m.channel, m.kind, m.text, m.label, m.probabilities,
                                                       m.language, m.reply),
                        "created_at": now.isoformat(),
                        "text": f"Thumbs-down on a reply ({m.channel}" + (f", ticket {m.ticket}" if m.ticket else "")
                                + f"): \u201c{_one_line(m.text)}\u201d \u2192 \u201c{_one_line(m.reply)}\u201d"}, now)
            done = conn.execute(update(_messages).where(mine).values(rating=value or None,
                                                                     rated_at=_now() if value else None))
            if done.rowcount == 0:
                raise NotFound(f"no message {message_id} in this conversation")
            conn.execute(_TOUCH, {"cid": conversation_id, "now": _now()})
        if queued:
            self.outbox_written.set()

    def add_correction(self, message_id: int, label: str, source: str, conversation_id: str | None = None,
                       operator: str | None = None) -> None:
        """Record the label a message really has. Customers (``conversation_id`` given) may correct only their
        own, visible, feedback messages; operators (``operator``) any message."""
        if source not in HUMAN_SOURCES:
            raise ValueError(f"unknown correction source {source!r}")
        with self.engine.begin() as conn:
            where = [_messages.c.id == message_id]
            if conversation_id is not None:
                where += [_messages.c.conversation_id == conversation_id, _messages.c.withdrawn_at.is_(None),
                          or_(_messages.c.kind.is_(None), _messages.c.kind == "feedback")]
            if conn.execute(select(_messages.c.id).where(*where)).first() is None:
                raise NotFound(f"no message {message_id} in this conversation")
            conn.execute(_INSERT_CORRECTION, {"message_id": message_id, "label": label, "source": source,
                                              "operator": operator})
            if conversation_id is not None:     # the customer's own correction is activity; an operator's is not
                conn.execute(_TOUCH, {"cid": conversation_id, "now": _now()})

    def history(self, conversation_id: str) -> list[dict]:
        """The conversation as its customer sees it: visible messages, oldest first."""
        cols = (_messages.c.id, _messages.c.text, _messages.c.reply, _messages.c.template, _messages.c.ticket,
                _messages.c.rating, _messages.c.created_at, _messages.c.client_message_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(_messages.c.conversation_id == conversation_id,
                                                    _messages.c.withdrawn_at.is_(None))
                                .order_by(_messages.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def withdraw(self, conversation_id: str, message_ids: list[int]) -> int:
        """Mark messages the customer took back (undo, edit, a cleared chat): they stay stored, lose their rating
        and the corrections they made; a ticket none of the remaining messages belongs to is withdrawn; an open
        question they asked is closed. Returns how many messages were withdrawn."""
        if not message_ids:
            return 0
        m = _messages.c
        with self.engine.begin() as conn:
            ids = conn.execute(select(m.id).where(m.conversation_id == conversation_id, m.id.in_(message_ids),
                                                  m.withdrawn_at.is_(None))).scalars().all()
            if not ids:
                return 0
            forget_days(conn, conn.execute(select(m.created_at).where(m.id.in_(ids))).scalars())
            conn.execute(update(_messages).where(m.id.in_(ids)).values(withdrawn_at=_now(), rating=None,
                                                                       rated_at=None))
            conn.execute(delete(Correction.__table__).where(Correction.__table__.c.by_message_id.in_(ids)))
            for ticket in conn.execute(select(_tickets.c.id).where(_tickets.c.conversation_id == conversation_id,
                                                                   _tickets.c.message_id.in_(ids))).scalars():
                still = conn.execute(select(func.count()).where(m.ticket == ticket, m.withdrawn_at.is_(None))).scalar()
                if not still:
                    conn.execute(update(_tickets).where(_tickets.c.id == ticket).values(status="withdrawn"))
            conn.execute(_SET_PENDING.where(and_(_conversations.c.pending_asked_in.in_(ids) |
                                                 _conversations.c.pending_target_id.in_(ids))),
                         {"cid": conversation_id, "target": None, "asked_in": None, "leaning": None, "kind": None,
                          "now": _now()})
            conn.execute(_TOUCH, {"cid": conversation_id, "now": _now()})
            return len(ids)

    # --- the outbox (bot.webhooks delivers; the console shows the state) ----------------------------------------

    def claim_outbox(self, limit: int, lease_s: float) -> list[dict]:
        """Claim up to ``limit`` due deliveries for ``lease_s`` seconds: their attempt is counted and they are not
        due again until the lease ends (so a worker that dies mid-delivery only delays them). PostgreSQL: rows
        another replica is claiming are skipped (FOR UPDATE SKIP LOCKED); everywhere the claim is also a
        compare-and-set on next_attempt_at, so two workers never hold the same row."""
        o = _outbox.c
        now = _now()
        due = (select(o.id, o.next_attempt_at).where(o.status == "pending", o.next_attempt_at <= now)
               .order_by(o.next_attempt_at, o.id).limit(limit))
        if self.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            claimed = []
            for row in conn.execute(due).all():
                got = conn.execute(update(_outbox).where(o.id == row.id, o.status == "pending",
                                                         o.next_attempt_at == row.next_attempt_at)
                                   .values(attempts=o.attempts + 1, last_attempt_at=now,
                                           next_attempt_at=now + timedelta(seconds=lease_s))).rowcount
                if got:
                    claimed.append(row.id)
            if not claimed:
                return []
            rows = conn.execute(select(o.id, o.event_type, o.idempotency_key, o.payload, o.url, o.attempts)
                                .where(o.id.in_(claimed)).order_by(o.id)).all()
        return [dict(r._mapping) for r in rows]

    def finish_outbox(self, outbox_id: int, attempt: int, error: str | None, retry_in_s: float | None) -> None:
        """Record how attempt ``attempt`` of a claimed delivery went: delivered (``error`` None), to retry in
        ``retry_in_s`` seconds, or failed for good (``retry_in_s`` None). A failure is ignored when another worker
        claimed the row since (its lease ran out); a success is always recorded."""
        o = _outbox.c
        where = [o.id == outbox_id, o.status == "pending"]
        if error is None:
            values = dict(status="delivered", delivered_at=_now(), next_attempt_at=None, last_error=None)
        else:
            where.append(o.attempts == attempt)
            values = dict(last_error=error[:300])
            if retry_in_s is None:
                values.update(status="failed", next_attempt_at=None)
            else:
                values.update(next_attempt_at=_now() + timedelta(seconds=retry_in_s))
        with self.engine.begin() as conn:
            conn.execute(update(_outbox).where(*where).values(**values))

    def next_outbox_due(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(_outbox.c.next_attempt_at))
                                .where(_outbox.c.status == "pending")).scalar()

    def outbox_pending(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(_outbox)
                                .where(_outbox.c.status == "pending")).scalar_one()

    def outbox_stats(self, recent: int = 20) -> dict:
        """Delivery state for the console: counts by status, how many pending ones already failed an attempt, the
        oldest pending event, and the latest failed attempts (URLs shown as scheme://host only)."""
        o = _outbox.c
        with self.engine.connect() as conn:
            counts = dict(conn.execute(select(o.status, func.count()).group_by(o.status)).all())
            retrying = conn.execute(select(func.count()).select_from(_outbox).where(
                o.status == "pending", o.attempts > 0, o.last_error.is_not(None))).scalar_one()
            oldest = conn.execute(select(func.min(o.created_at)).where(o.status == "pending")).scalar()
            failures = conn.execute(select(o.id, o.event_type, o.idempotency_key, o.url, o.status, o.attempts,
                                           o.last_error, o.last_attempt_at, o.next_attempt_at)
                                    .where(o.last_error.is_not(None), o.status != "delivered")
                                    .order_by(o.last_attempt_at.desc(), o.id.desc()).limit(recent)).all()
        return {"pending": counts.get("pending", 0), "delivered": counts.get("delivered", 0),
                "failed": counts.get("failed", 0), "retrying": retrying, "oldest_pending_at": oldest,
                "recent_failures": [{**{k: v for k, v in r._mapping.items() if k != "url"}, "host": url_host(r.url)}
                                    for r in failures]}

    def retry_failed_outbox(self) -> int:
        """Give failed deliveries another round of attempts (for the console, once the receiver is fixed)."""
        with self.engine.begin() as conn:
            n = conn.execute(update(_outbox).where(_outbox.c.status == "failed").values(
                status="pending", attempts=0, next_attempt_at=_now())).rowcount
        if n:
            self.outbox_written.set()
        return n
    # --- data protection: erase one customer's conversation, purge idle ones ---------------------------------

    def erase_conversation(self, conversation_id: str, by: str) -> dict:
        """Delete one conversation everywhere: its messages (and their ratings), the corrections of and by them,
        its tickets and the conversation itself, in one transaction with an ``audit_log`` line (counts and ``by``,
        never text). Returns the counts; all 0 when nothing was stored under that id (the request is logged too)."""
        if not by:
            raise ValueError("erase needs the name of who asks for it")
        with self.engine.begin() as conn:
            self._lock_for_delete(conn, conversation_id)
            ids = conn.execute(select(_conversations.c.id).where(_conversations.c.id == conversation_id)
                               .with_for_update()).scalars().all()
            counts = self._delete_conversations(conn, ids)
            conn.execute(insert(_audit).values(at=_now(), action="erase", conversation_id=conversation_id,
                                               counts=counts, actor=by))
        log.warning("erased conversation %s by %s: %s", conversation_id, by,
                    ", ".join(f"{n} {what}" for what, n in counts.items()))
        return counts

    def purge(self, before: datetime, by: str, dry_run: bool = False, batch: int = 500) -> dict:
        """Delete the conversations whose last activity is before ``before``, with their messages, corrections and
        tickets: ``batch`` conversations per transaction, found through the ``last_active_at`` index. ``dry_run``
        counts what would go and deletes nothing. Running it again deletes nothing more (idempotent). Writes one
        ``audit_log`` line (counts) unless dry."""
        c, m = _conversations.c, _messages.c
        old = select(c.id).where(c.last_active_at < before)
        with self.engine.begin() as conn:
            self._backfill_activity(conn)
            if dry_run:
                message_ids = select(m.id).where(m.conversation_id.in_(old))
                return {
                    "conversations": conn.execute(select(func.count()).select_from(old.subquery())).scalar_one(),
                    "messages": conn.execute(select(func.count()).where(m.conversation_id.in_(old))).scalar_one(),
                    "ratings": conn.execute(select(func.count()).where(m.conversation_id.in_(old),
                                                                       m.rating.is_not(None))).scalar_one(),
                    "corrections": conn.execute(select(func.count()).select_from(_corrections).where(
                        or_(_corrections.c.message_id.in_(message_ids),
                            _corrections.c.by_message_id.in_(message_ids)))).scalar_one(),
                    "tickets": conn.execute(select(func.count()).select_from(_tickets).where(
                        _tickets.c.conversation_id.in_(old))).scalar_one()}
        total = dict.fromkeys(("conversations", "messages", "ratings", "corrections", "tickets"), 0)
        while True:
            with self.engine.begin() as conn:
                self._backfill_activity(conn)      # a write first: on SQLite the batch holds the write lock from here
                ids = conn.execute(old.order_by(c.last_active_at).limit(batch).with_for_update()).scalars().all()
                if not ids:
                    break
                for what, n in self._delete_conversations(conn, ids).items():
                    total[what] += n
        with self.engine.begin() as conn:
            conn.execute(insert(_audit).values(at=_now(), action="purge", conversation_id=None, actor=by,
                                               counts={**total, "before": before.isoformat()}))
        log.warning("purged conversations idle since before %s by %s: %s", before.isoformat(), by,
                    ", ".join(f"{n} {what}" for what, n in total.items()))
        return total

    def audit_log(self, conversation_id: str | None = None, limit: int = 100) -> list[dict]:
        """The latest audit lines, newest first (of one conversation when given)."""
        query = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
        if conversation_id is not None:
            query = query.where(_audit.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _lock_for_delete(self, conn, conversation_id: str) -> None:
        """Hold the write lock before reading what to delete, so no turn can slip in between (SQLite takes it on the
        first write; on PostgreSQL ``SELECT ... FOR UPDATE`` waits for a turn in flight and then re-reads)."""
        conn.execute(_TOUCH.where(_conversations.c.last_active_at.is_(None)), {"cid": conversation_id, "now": _now()})

    @staticmethod
    def _backfill_activity(conn) -> None:
        """Conversations written by an older version (or replica) have no last activity yet: their latest message,
        else their start."""
        c = _conversations.c
        latest = select(func.max(_messages.c.created_at)).where(_messages.c.conversation_id == c.id).scalar_subquery()
        conn.execute(update(_conversations).where(c.last_active_at.is_(None))
                     .values(last_active_at=func.coalesce(latest, c.created_at)))

    @staticmethod
    def _delete_conversations(conn, ids: list[str]) -> dict:
        counts = dict.fromkeys(("conversations", "messages", "ratings", "corrections", "tickets"), 0)
        if not ids:
            return counts
        m = _messages.c
        message_ids = select(m.id).where(m.conversation_id.in_(ids))
        counts["ratings"] = conn.execute(select(func.count()).where(m.conversation_id.in_(ids),
                                                                    m.rating.is_not(None))).scalar_one()
        counts["corrections"] = conn.execute(delete(_corrections).where(
            or_(_corrections.c.message_id.in_(message_ids), _corrections.c.by_message_id.in_(message_ids)))).rowcount
        counts["tickets"] = conn.execute(delete(_tickets).where(_tickets.c.conversation_id.in_(ids))).rowcount
        forget_days(conn, conn.execute(select(m.created_at).where(m.conversation_id.in_(ids))).scalars())
        counts["messages"] = conn.execute(delete(_messages).where(m.conversation_id.in_(ids))).rowcount
        counts["conversations"] = conn.execute(delete(_conversations).where(
            _conversations.c.id.in_(ids))).rowcount
        return counts

    # --- reading --------------------------------------------------------------------------------------------------

    def get_message(self, message_id: int) -> Message | None:
        with self._session() as s:
            return s.get(Message, message_id)

    def count(self, table: type[Base]) -> int:
        with self._session() as s:
            return s.execute(select(func.count()).select_from(table)).scalar_one()

    def iter_messages(self, batch: int = 1000) -> Iterator[dict]:
        """Every message with the correction that counts (and its source), oldest first: an operator's latest
        label wins over a customer's, a customer's latest over a legacy one (see store_migrations)."""
        last_id = 0
        while True:
            with self._session() as s:
                rows = s.execute(select(Message).where(Message.id > last_id).order_by(Message.id)
                                 .limit(batch)).scalars().all()
                if not rows:
                    return
                ids = [m.id for m in rows]
                corrections: dict[int, Correction] = {}
                for c in s.execute(select(Correction).where(Correction.message_id.in_(ids))
                                   .order_by(Correction.id)).scalars():
                    held = corrections.get(c.message_id)
                    if held is None or _rank(c.source) >= _rank(held.source):
                        corrections[c.message_id] = c
            for m in rows:
                c = corrections.get(m.id)
                yield {"id": m.id, "conversation_id": m.conversation_id, "channel": m.channel, "kind": m.kind,
                       "text": m.text, "label": m.label, "label_source": m.label_source, "confidence": m.confidence,
                       "probabilities": m.probabilities, "band": m.band, "template": m.template, "reply": m.reply,
                       "latency_ms": m.latency_ms, "model_version": m.model_version, "ticket": m.ticket,
                       "created_at": m.created_at.isoformat() if m.created_at else None,
                       "correction": c.label if c else None, "correction_source": c.source if c else None,
                       "rating": m.rating, "withdrawn": m.withdrawn_at is not None, "language": m.language,
                       "clauses": m.clauses, "redacted": m.redacted}
            last_id = ids[-1]


def utc_day(t: datetime) -> str:
    """The UTC calendar day (YYYY-MM-DD) of a stored timestamp (SQLite returns naive UTC, PostgreSQL aware)."""
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)).date().isoformat()


def forget_days(conn, created_at) -> None:
    """Drop the dashboard roll-up of the days these messages were written on (they are being withdrawn or
    deleted), in the same transaction: the next dashboard view rebuilds those days from what is stored."""
    days = sorted({utc_day(t) for t in created_at if t is not None})
    for start in range(0, len(days), 500):
        chunk = days[start:start + 500]
        conn.execute(delete(MessageDayStat.__table__).where(MessageDayStat.__table__.c.day.in_(chunk)))
        conn.execute(delete(StatDay.__table__).where(StatDay.__table__.c.day.in_(chunk)))


def _rank(source: str) -> int:
    return {OPERATOR: 2, CUSTOMER_BUTTON: 1, CUSTOMER_TEXT: 1}.get(source, 0)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
