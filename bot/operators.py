"""Operator accounts and console sessions: argon2id password hashes, lockout after failed logins, server-side
sessions (the cookie holds a random token; the store keeps only its SHA-256) with a CSRF token each.

Passwords and tokens are never logged; a failed login logs the name tried and the client address only.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .store import Operator, OperatorSession, Store, StoreError

ROLES = ("viewer", "agent")
MIN_PASSWORD = 10
MAX_FAILURES = 5                           # consecutive failed logins before the account is locked...
LOCKOUT = timedelta(minutes=15)            # ...for this long
SESSION_TTL = timedelta(hours=12)          # absolute
SESSION_IDLE = timedelta(hours=2)          # without a request
log = logging.getLogger("feedbackbot.console")
_hasher = PasswordHasher()                 # argon2id, the library's (RFC 9106 low-memory) defaults
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))   # verified against for unknown names: same time as a known one

_ops, _sessions = Operator.__table__, OperatorSession.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OperatorError(ValueError):
    pass


@dataclass(frozen=True)
class OperatorSessionInfo:
    operator_id: int
    name: str
    role: str
    csrf: str

    @property
    def can_edit(self) -> bool:
        return self.role == "agent"


class LoginThrottle:
    """At most ``per_minute`` login attempts per client address (in memory, per process): slows guessing
    across many names; the per-account lockout (in the store) covers guessing one name from many addresses."""

    def __init__(self, per_minute: int = 10):
        self.per_minute = per_minute
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """0 when this attempt may go ahead (and counts it), else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return 60 - (now - hits[0])
            hits.append(now)
            if len(self._hits) > 10000:       # forget idle addresses
                for key in [k for k, v in self._hits.items() if not v]:
                    del self._hits[key]
            return 0.0


class Operators:
    def __init__(self, store: Store):
        self.store = store
        self.engine = store.engine

    # --- accounts (feedbackbot operators ...) -------------------------------------------------------------------

    def add(self, name: str, password: str, role: str = "viewer") -> None:
        name = name.strip()
        if not name or len(name) > 64 or not name.isprintable():
            raise OperatorError("an operator name is 1-64 printable characters")
        if role not in ROLES:
            raise OperatorError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise OperatorError(f"a password has at least {MIN_PASSWORD} characters")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(_ops).values(name=name, password_hash=_hasher.hash(password), role=role,
                                                 failed_logins=0, created_at=_now()))
        except IntegrityError:
            raise OperatorError(f"an operator named {name!r} exists") from None

    def list(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_ops.c.name, _ops.c.role, _ops.c.created_at, _ops.c.last_login_at,
                                       _ops.c.locked_until).order_by(_ops.c.name)).all()
        return [dict(r._mapping) for r in rows]

    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            op = conn.execute(select(_ops.c.id).where(_ops.c.name == name)).scalar()
            if op is None:
                return False
            conn.execute(delete(_sessions).where(_sessions.c.operator_id == op))
            conn.execute(delete(_ops).where(_ops.c.id == op))
        return True

    # --- login and sessions -----------------------------------------------------------------------------------

    def login(self, name: str, password: str, client: str = "?") -> str | None:
        """A new session token for the right password of an unlocked account, else None (the caller says only
        "wrong name or password, or locked", never which)."""
        now = _now()
        with self.engine.connect() as conn:
            op = conn.execute(select(_ops).where(_ops.c.name == name)).first()
        if op is None:
            try:
                _hasher.verify(_DUMMY, password)
            except VerificationError:
                pass
            log.warning("console login failed: unknown operator name from %s", client)
            return None
        locked = _aware(op.locked_until)
        if locked is not None and locked > now:
            log.warning("console login refused: operator %r is locked until %s (from %s)", name, locked, client)
            return None
        try:
            _hasher.verify(op.password_hash, password)
        except (VerificationError, InvalidHashError):
            failures = (op.failed_logins or 0) + 1
            values = {"failed_logins": failures}
            if failures >= MAX_FAILURES:
                values = {"failed_logins": 0, "locked_until": now + LOCKOUT}
                log.warning("console: operator %r locked for %s after %d failed logins (last from %s)", name,
                            LOCKOUT, failures, client)
            else:
                log.warning("console login failed for operator %r from %s (%d)", name, client, failures)
            with self.engine.begin() as conn:
                conn.execute(update(_ops).where(_ops.c.id == op.id).values(**values))
            return None
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            values = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
            if _hasher.check_needs_rehash(op.password_hash):
                values["password_hash"] = _hasher.hash(password)
            conn.execute(update(_ops).where(_ops.c.id == op.id).values(**values))
            conn.execute(delete(_sessions).where(_sessions.c.expires_at < now))
            conn.execute(insert(_sessions).values(token_hash=_digest(token), operator_id=op.id,
                                                  csrf=secrets.token_urlsafe(32), created_at=now,
                                                  expires_at=now + SESSION_TTL, last_seen_at=now))
        log.info("console: operator %r logged in from %s", name, client)
        return token

    def session(self, token: str | None) -> OperatorSessionInfo | None:
        if not token or len(token) > 128:
            return None
        now = _now()
        with self.engine.connect() as conn:
            row = conn.execute(select(_sessions.c.operator_id, _sessions.c.csrf, _sessions.c.expires_at,
                                      _sessions.c.last_seen_at, _ops.c.name, _ops.c.role)
                               .join(_ops, _ops.c.id == _sessions.c.operator_id)
                               .where(_sessions.c.token_hash == _digest(token))).first()
        if row is None or _aware(row.expires_at) <= now or _aware(row.last_seen_at) + SESSION_IDLE <= now:
            return None
        if now - _aware(row.last_seen_at) > timedelta(minutes=1):      # one write a minute, not one per request
            with self.engine.begin() as conn:
                conn.execute(update(_sessions).where(_sessions.c.token_hash == _digest(token))
                             .values(last_seen_at=now))
        return OperatorSessionInfo(row.operator_id, row.name, row.role, row.csrf)

    def logout(self, token: str | None) -> None:
        if token:
            with self.engine.begin() as conn:
                conn.execute(delete(_sessions).where(_sessions.c.token_hash == _digest(token)))

    def count(self) -> int:
        try:
            with self.engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(_ops)).scalar_one()
        except Exception as exc:
            raise StoreError(str(exc)) from None
