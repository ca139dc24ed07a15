"""kill -9 the server mid-load: every acknowledged message survives, exactly once, and the bot starts again."""

import os
import signal
import sqlite3
import threading
import time
import uuid

import httpx
import pytest

from bot.store import Store

from servers import free_port, start_bot_server

pytestmark = pytest.mark.slow


def load_until_killed(url, proc, token, workers=8, kill_after_acks=120):
    acked: list[tuple[int, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(w):
        with httpx.Client(timeout=10) as client:
            try:
                session = client.post(f"{url}/api/v1/conversations").json()["session_id"]   # server-issued
            except httpx.HTTPError:
                return
            for n in range(100_000):
                if stop.is_set():
                    return
                text = f"{token} worker {w} message {n}: the delivery was late"
                try:
                    r = client.post(f"{url}/api/v1/messages", json={"text": text, "session_id": session})
                except httpx.HTTPError:
                    return                          # the server is gone
                if r.status_code == 200:
                    with lock:
                        acked.append((r.json()["message_id"], text))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while len(acked) < kill_after_acks and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)             # mid-load: requests are in flight
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    return acked


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_mid_load_loses_no_acknowledged_message(backend, tiny_model_dir, tmp_path, request):
    if backend == "sqlite":
        db_path = tmp_path / "fb.sqlite3"
        db_url = f"sqlite:///{db_path}"
    else:
        db_url = request.getfixturevalue("postgres_url")
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_bot_server(str(tiny_model_dir), db_url, port, log)
    token = uuid.uuid4().hex[:8]            # this run's messages, even in a reused database
    acked = load_until_killed(f"http://127.0.0.1:{port}", proc, token)
    assert len(acked) >= 120
    assert proc.returncode == -signal.SIGKILL

    proc = start_bot_server(str(tiny_model_dir), db_url, port, log)     # starts again, no manual repair
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/messages", json={"text": "after the crash"})
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    store = Store(db_url)
    stored = {row["id"]: row["text"] for row in store.iter_messages()}
    for message_id, text in acked:
        assert stored.get(message_id) == text, f"acknowledged message {message_id} lost or changed"
    crash_texts = [t for t in stored.values() if t.startswith(f"{token} worker ")]
    assert len(crash_texts) == len(set(crash_texts)), "a message was stored twice"
    if backend == "sqlite":
        con = sqlite3.connect(db_path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
