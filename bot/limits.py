"""Request limits for the public channels: token-bucket rate limits per key (session, client IP)."""

from __future__ import annotations

import threading
import time

from .config import LimitsConfig


class RateLimited(Exception):
    """Too many messages; ``retry_after`` seconds until the next one is accepted. ``status``: HTTP code."""

    status = 429

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(RateLimited):
    """All model slots stayed busy for the whole queue timeout."""

    status = 503


class RateLimiter:
    """Per-key token bucket: ``per_minute`` messages a minute on average, bursts up to ``per_minute``.

    ``per_minute <= 0`` disables the limit. Idle keys are forgotten so memory stays bounded.
    """

    def __init__(self, per_minute: int, what: str, clock=time.monotonic, max_keys: int = 100_000):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.what = what
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise :class:`RateLimited`."""
        if self.capacity <= 0:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited(f"too many messages from this {self.what}; please wait a moment",
                                  retry_after=(1.0 - tokens) / self.rate)
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._forget_idle(now)

    def wait_s(self, key: str) -> float:
        """Seconds until ``key`` may send again (0: now), without taking a token: a channel can refuse before it
        clears the customer's input."""
        if self.capacity <= 0:
            return 0.0
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, self.clock()))
        tokens = min(self.capacity, tokens + (self.clock() - last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        full_after = self.capacity / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


class ReplyGate:
    """What the public channels pass through before Bot.reply(): per-address and per-conversation rate limits,
    then a bounded number of replies computed at once (the rest wait up to ``queue_timeout_s``)."""

    def __init__(self, limits: LimitsConfig, clock=time.monotonic):
        self.per_ip = RateLimiter(limits.per_ip_per_minute, "address", clock)
        self.per_session = RateLimiter(limits.per_session_per_minute, "conversation", clock)
        self.slots = threading.BoundedSemaphore(max(1, limits.max_concurrent_replies))
        self.queue_timeout_s = limits.queue_timeout_s

    def wait_s(self, client: str | None, limit_key: str) -> float:
        """Seconds until this client and conversation may send again (0: now); takes nothing."""
        return max(self.per_ip.wait_s(client or "unknown"), self.per_session.wait_s(limit_key))

    def reply(self, bot, session: str, text: str, channel: str, client: str | None, limit_key: str | None = None,
              **turn):
        """``limit_key``: what the per-conversation limit counts (default: the session; the browser chat counts its
        page, so Clear is no way around the limit)."""
        self.per_ip.check(client or "unknown")
        self.per_session.check(limit_key or session)
        if not self.slots.acquire(timeout=self.queue_timeout_s):
            raise Overloaded("the bot is busy right now; please try again in a moment", retry_after=2.0)
        try:
            return bot.reply(session, text, channel, **turn)
        finally:
            self.slots.release()
