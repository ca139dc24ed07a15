
import httpx
import pytest

from bot.channels.http import create_app
from bot.config import LimitsConfig, ServerConfig
from bot.limits import Overloaded, RateLimited, RateLimiter, ReplyGate
from bot.store import Message

from conftest import LiveServer, make_bot


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_token_bucket_allows_bursts_then_refills():
    clock = Clock()
    limiter = RateLimiter(3, "conversation", clock)
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(RateLimited) as err:
        limiter.check("a")
    assert err.value.status == 429 and err.value.retry_after == pytest.approx(20.0)
    limiter.check("b")                    # other keys are independent
    clock.t = 20.0                        # 3 a minute = one token every 20 s
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")


def test_zero_disables_the_limit_and_idle_keys_are_forgotten():
    unlimited = RateLimiter(0, "address")
    for _ in range(1000):
        unlimited.check("x")
    clock = Clock()
    small = RateLimiter(60, "address", clock, max_keys=10)
    for i in range(11):
        small.check(str(i))
    clock.t = 120.0
    small.check("new")
    assert len(small._buckets) <= 2


def test_gate_bounds_concurrent_replies():
    gate = ReplyGate(LimitsConfig(max_concurrent_replies=1, queue_timeout_s=0.05))
    gate.slots.acquire()                  # one reply in progress
    try:
        with pytest.raises(Overloaded) as err:
            gate.reply(None, "s", "hi", "api", "127.0.0.1")
        assert err.value.status == 503
    finally:
        gate.slots.release()


def test_http_returns_429_with_retry_after_and_stores_nothing_more(tiny_model_dir, tmp_path):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    bot.config.limits = LimitsConfig(per_session_per_minute=2, per_ip_per_minute=100)
    server = LiveServer(create_app(bot, ServerConfig(), with_gradio=False))
    try:
        first = httpx.post(f"{server.url}/api/v1/messages", json={"text": "one"}).json()
        session = first["session_id"]
        assert httpx.post(f"{server.url}/api/v1/messages", json={"text": "two", "session_id": session}).status_code == 200
        r = httpx.post(f"{server.url}/api/v1/messages", json={"text": "three", "session_id": session})
        assert r.status_code == 429 and "too many messages" in r.json()["error"]["message"]
        assert r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        assert httpx.post(f"{server.url}/api/v1/messages", json={"text": "other session"}).status_code == 200
        assert [m["text"] for m in bot.store.iter_messages()] == ["one", "two", "other session"]
        assert bot.store.count(Message) == 3
    finally:
        server.stop()
