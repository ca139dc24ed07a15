"""Hand-off notifications: a background worker that POSTs the outbox's events to the configured webhooks.

The events are written by the store in the same transaction as the ticket (or thumbs-down) they announce (see
``Store.record_turn``), so they survive anything the ticket survives; this worker only delivers them:

- it claims due rows (``Store.claim_outbox``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas share the work;
  a compare-and-set everywhere), counting the attempt and leasing the row before it sends anything;
- POSTs the stored JSON body with ``X-Feedbackbot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``,
  ``X-Feedbackbot-Timestamp`` (Unix seconds) and ``X-Feedbackbot-Event-Id`` (the idempotency key);
- a 2xx answer marks the row delivered; anything else (an error status, a refused connection, a timeout) is retried
  after ``backoff_s * 2**(attempt-1)`` seconds (at most ``backoff_max_s``, with jitter: 50-100% of that) until
  ``max_attempts``, then the row is marked failed.

Delivery is at-least-once: a process killed after the receiver got an event but before the store recorded it
sends it again when the lease runs out; receivers drop repeats by ``X-Feedbackbot-Event-Id`` (the event's ``id``).
Events are not ordered. ``last_error`` holds a status code or an error class, never the secret or the URL (a
Slack URL is itself a secret); logs show a URL as scheme://host only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .config import WebhooksConfig
from .store import Store, url_host

log = logging.getLogger("feedbackbot.webhooks")

SIGNATURE_HEADER = "X-Feedbackbot-Signature"
TIMESTAMP_HEADER = "X-Feedbackbot-Timestamp"
EVENT_ID_HEADER = "X-Feedbackbot-Event-Id"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, headers, body: bytes, tolerance_s: float = 300, now: float | None = None) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (refuses replays of old events)."""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    signature = headers.get(SIGNATURE_HEADER) or ""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff_delay(attempt: int, base: float, cap: float, rand=random.random) -> float:
    """Seconds before retry after failed attempt ``attempt`` (1-based): exponential, capped, 50-100% jitter."""
    return min(cap, base * 2 ** min(attempt - 1, 62)) * (0.5 + 0.5 * rand())


class WebhookWorker:
    """Delivers due outbox rows in a background thread (``start``/``stop``), or one round at a time (``run_once``)."""

    def __init__(self, store: Store, cfg: WebhooksConfig, concurrency: int = 4):
        self.store, self.cfg, self.concurrency = store, cfg, max(1, concurrency)
        # A claimed row is not due again for this long: long enough for one POST (httpx applies the timeout to
        # connect, write and read separately), short enough that a crashed worker's rows are retried soon.
        self.lease_s = 4 * cfg.timeout_s + 5
        self._client = httpx.Client(timeout=cfg.timeout_s, follow_redirects=False,
                                    headers={"User-Agent": "feedbackbot-webhooks/1"})
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook-post")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0                       # deliveries this worker completed (for tests and logs)
        self._count = threading.Lock()

    def start(self) -> "WebhookWorker":
        self._thread = threading.Thread(target=self._loop, name="webhook-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        self.store.outbox_written.set()          # wake the loop
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)
        self._client.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.store.outbox_written.clear()
            try:
                sent = self.run_once()
            except Exception as exc:             # the store is unreachable: try again later
                log.warning("webhook worker: cannot read the outbox (%s); retrying in %.1fs", type(exc).__name__,
                            self.cfg.poll_s)
                sent = 0
            if not sent:
                self.store.outbox_written.wait(self.cfg.poll_s)

    def run_once(self) -> int:
        """Claim the due rows (up to ``concurrency``), deliver them concurrently; returns how many were tried."""
        rows = self.store.claim_outbox(self.concurrency, self.lease_s)
        if rows:
            list(self._pool.map(self._deliver, rows))
        return len(rows)

    def _deliver(self, row: dict) -> None:
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.cfg.secret, timestamp, body),
                   TIMESTAMP_HEADER: timestamp, EVENT_ID_HEADER: row["idempotency_key"],
                   "X-Feedbackbot-Event-Type": row["event_type"], "X-Feedbackbot-Attempt": str(row["attempts"])}
        try:
            response = self._client.post(row["url"], content=body, headers=headers)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = self._scrub(f"{type(exc).__name__}: {exc}", row["url"])
        except Exception as exc:                 # an invalid URL and the like: retried, then failed, never fatal
            error = self._scrub(f"{type(exc).__name__}: {exc}", row["url"])
        attempt = row["attempts"]
        if error is None:
            self.store.finish_outbox(row["id"], attempt, None, None)
            with self._count:
                self.delivered += 1
            return
        retry_in = (backoff_delay(attempt, self.cfg.backoff_s, self.cfg.backoff_max_s)
                    if attempt < self.cfg.max_attempts else None)
        self.store.finish_outbox(row["id"], attempt, error, retry_in)
        where = url_host(row["url"])
        if retry_in is None:
            log.error("webhook %s to %s failed for good after %d attempts: %s", row["idempotency_key"], where,
                      attempt, error)
        else:
            log.warning("webhook %s to %s: attempt %d failed (%s); retry in %.1fs", row["idempotency_key"], where,
                        attempt, error, retry_in)

    def _scrub(self, text: str, url: str) -> str:
        for secret in (self.cfg.secret, url):
            if secret:
                text = text.replace(secret, "***")
        return text[:300]
