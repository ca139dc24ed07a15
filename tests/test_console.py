"""The operator console over real HTTP: sessions, lockout and throttling, CSRF, framing, CORS, roles, and customer
text rendered inert in every view."""

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select, update

from bot.channels.http import create_app
from bot.config import ServerConfig
from bot.operators import MAX_FAILURES, Operators
from bot.store import Correction, Message, Operator, Ticket, TurnRecord

from conftest import ALWAYS_LOW, LiveServer, make_bot

ALLOWED = "https://shop.example"
SCRIPT = "<script>alert('xss')</script>"
IMG = '<img src=x onerror="alert(1)">'
EVIL = f"refund now {SCRIPT} {IMG}"
PASSWORD = "correct horse battery"


def seed(bot) -> dict:
    """A feedback message full of markup (low band, thumbs-down, with a ticket whose contact is markup too)."""
    store = bot.store
    probs = {"negative": 0.5, "neutral": 0.3, "positive": 0.2}
    mid = store.record_turn(TurnRecord(conversation_id="conv-evil", channel="api", text=EVIL, kind="feedback",
                                       label="negative", probabilities=probs, band="low", template="t", reply="r",
                                       latency_ms=1.0, model_version="m", ticket="FB-EVIL0001", ticket_is_new=True,
                                       contact=("email", IMG)))
    with store.engine.begin() as conn:
        conn.execute(update(Message.__table__).where(Message.__table__.c.id == mid).values(rating=-1))
    return {"message_id": mid, "ticket": "FB-EVIL0001", "conversation": "conv-evil"}


@pytest.fixture(scope="module")
def console(tiny_model_dir, tmp_path_factory):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path_factory.mktemp('console') / 'fb.sqlite3'}", **ALWAYS_LOW)
    ops = Operators(bot.store)
    ops.add("alice", PASSWORD, "agent")
    ops.add("vic", PASSWORD, "viewer")
    ops.add("locky", PASSWORD, "agent")
    ids = seed(bot)
    server = LiveServer(create_app(bot, ServerConfig(allowed_origins=[ALLOWED], console_logins_per_minute=1000),
                                   with_gradio=False))
    yield server, bot, ids
    server.stop()


def login(url: str, name: str = "alice", password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=url)
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/console/login", data={"csrf": token, "name": name, "password": password})
    return client, r


def csrf_of(client: httpx.Client, path: str = "/console/review") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def pages(ids) -> list[str]:
    return ["/console", "/console?start=2000-01-01&end=2100-01-01", "/console/tickets", "/console/tickets?status=closed",
            f"/console/tickets/{ids['ticket']}", "/console/conversations", "/console/conversations?q=refund",
            f"/console/conversations/{ids['conversation']}", "/console/review", "/console/export"]


def posts(ids) -> list[str]:
    return [f"/console/tickets/{ids['ticket']}/close", f"/console/tickets/{ids['ticket']}/reopen",
            f"/console/messages/{ids['message_id']}/label", "/console/export", "/console/logout"]


def test_nothing_answers_without_a_session(console):
    server, bot, ids = console
    for cookies in ({}, {"fb_console": "forged-token"}):
        with httpx.Client(base_url=server.url, cookies=cookies) as anon:
            for path in pages(ids):
                r = anon.get(path)
                assert r.status_code == 303 and r.headers["location"] == "/console/login", path
                assert "refund" not in r.text and "FB-EVIL" not in r.text
            for path in posts(ids):
                r = anon.post(path, data={"csrf": "x", "label": "positive", "note": "n"})
                assert r.status_code == 401, path
    assert bot.store.count(Correction) == 0
    with bot.store.engine.connect() as conn:
        assert conn.execute(select(Ticket.__table__.c.status)).scalar() == "open"


def test_login_sets_a_strict_httponly_session_cookie_and_logout_ends_it(console):
    server, _, _ = console
    client, r = login(server.url)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"].lower()
    assert "fb_console=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert "secure" not in cookie                                    # plain HTTP on loopback
    assert client.get("/console").status_code == 200
    token = csrf_of(client, "/console")
    stolen = client.cookies.get("fb_console")
    assert client.post("/console/logout", data={"csrf": token}).status_code == 303
    r = httpx.get(f"{server.url}/console", cookies={"fb_console": stolen})     # the old token is dead server-side
    assert r.status_code == 303


def test_session_cookie_is_secure_over_https(console):
    from fastapi.testclient import TestClient

    _, bot, _ = console
    with TestClient(create_app(bot, ServerConfig(), with_gradio=False), base_url="https://testserver") as tc:
        token = re.search(r'name="csrf" value="([^"]+)"', tc.get("/console/login").text).group(1)
        r = tc.post("/console/login", data={"csrf": token, "name": "alice", "password": PASSWORD},
                    follow_redirects=False)
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_wrong_passwords_lock_the_account(console):
    server, bot, _ = console
    for _ in range(MAX_FAILURES):
        _, r = login(server.url, "locky", "wrong password!")
        assert r.headers["location"] == "/console/login?error=1"
    _, r = login(server.url, "locky", PASSWORD)                    # the right one, now refused
    assert r.headers["location"] == "/console/login?error=1"
    with bot.store.engine.begin() as conn:                          # the lockout ends
        conn.execute(update(Operator.__table__).values(locked_until=datetime.now(timezone.utc) - timedelta(1)))
    _, r = login(server.url, "locky", PASSWORD)
    assert r.headers["location"] == "/console"


def test_login_attempts_are_throttled_per_address(console, caplog):
    from fastapi.testclient import TestClient

    _, bot, _ = console
    with TestClient(create_app(bot, ServerConfig(console_logins_per_minute=3), with_gradio=False)) as tc:
        token = re.search(r'name="csrf" value="([^"]+)"', tc.get("/console/login").text).group(1)
        codes = [tc.post("/console/login", data={"csrf": token, "name": f"guess{i}", "password": f"pw-secret-{i}"},
                         follow_redirects=False).status_code for i in range(5)]
        assert codes[:3] == [303, 303, 303] and codes[3:] == [429, 429]
        r = tc.post("/console/login", data={"csrf": token, "name": "alice", "password": PASSWORD},
                    follow_redirects=False)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "pw-secret" not in caplog.text and PASSWORD not in caplog.text     # passwords never logged


def test_state_changes_need_the_csrf_token_and_our_origin(console):
    server, bot, ids = console
    client, _ = login(server.url)
    close = f"/console/tickets/{ids['ticket']}/close"
    assert client.post(close, data={"note": "no token"}).status_code == 403
    assert client.post(close, data={"note": "bad", "csrf": "wrong"}).status_code == 403
    token = csrf_of(client)
    r = client.post(close, data={"note": "cross-site", "csrf": token}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.post(close, data={"note": "cross", "csrf": token}, headers={"Referer": "https://evil.example/x"})
    assert r.status_code == 403
    with bot.store.engine.connect() as conn:
        assert conn.execute(select(Ticket.__table__.c.status)).scalar() == "open"
    _, other = login(server.url, "vic")                    # another session's token is not this one's
    assert client.post(close, data={"csrf": "x" * len(token)}).status_code == 403


def test_viewer_reads_but_cannot_change(console):
    server, bot, ids = console
    client, _ = login(server.url, "vic")
    review = client.get("/console/review")
    assert review.status_code == 200 and "agents only" in review.text
    r = client.post(f"/console/messages/{ids['message_id']}/label", data={"csrf": csrf_of(client), "label": "neutral"})
    assert r.status_code == 403 and bot.store.count(Correction) == 0
    assert client.post("/console/export", data={"csrf": csrf_of(client), "what": "all"}).status_code == 403


def test_every_console_page_refuses_framing_caching_and_cors(console):
    server, _, ids = console
    client, _ = login(server.url)
    for path in ["/console/login", *pages(ids)]:
        r = client.get(path, headers={"Origin": ALLOWED})
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp, path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store", path
        assert not any(h.startswith("access-control-") for h in r.headers), path
    pre = httpx.options(f"{server.url}/console", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    api = httpx.get(f"{server.url}/api/v1/config", headers={"Origin": ALLOWED})     # the widget's CORS still works
    assert api.headers["access-control-allow-origin"] == ALLOWED


def test_customer_markup_is_inert_in_every_view(console):
    server, _, ids = console
    client, _ = login(server.url)
    for path in pages(ids):
        body = client.get(path).text
        for raw in (SCRIPT, IMG, "<script>alert", "<img src=x", "onerror=\"alert"):
            assert raw not in body, (path, raw)
        assert "<script" not in body.lower(), path               # no script on any console page at all
    for path in (f"/console/conversations/{ids['conversation']}", "/console/review",
                 f"/console/tickets/{ids['ticket']}"):
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in client.get(path).text, path


def test_agent_relabels_closes_reopens_and_exports(console):
    server, bot, ids = console
    client, _ = login(server.url)
    assert f'id="r{ids["message_id"]}"' in client.get("/console/review").text
    r = client.post(f"/console/messages/{ids['message_id']}/label", data={"csrf": csrf_of(client), "label": "neutral"})
    assert r.status_code == 303
    with bot.store.engine.connect() as conn:
        c = conn.execute(select(Correction.__table__)).one()
    assert (c.message_id, c.label, c.source, c.operator) == (ids["message_id"], "neutral", "operator", "alice")
    assert c.created_at is not None
    assert f'id="r{ids["message_id"]}"' not in client.get("/console/review").text      # reviewed: off the queue
    assert client.post(f"/console/messages/{ids['message_id']}/label",
                       data={"csrf": csrf_of(client), "label": "bogus"}).status_code == 400

    t = f"/console/tickets/{ids['ticket']}"
    assert client.post(f"{t}/close", data={"csrf": csrf_of(client), "note": "called back"}).status_code == 303
    with bot.store.engine.connect() as conn:
        row = conn.execute(select(Ticket.__table__)).one()
    assert (row.status, row.closed_by, row.close_note) == ("closed", "alice", "called back")
    assert ids["ticket"] in client.get("/console/tickets?status=closed").text
    assert ids["ticket"] not in client.get("/console/tickets").text
    assert client.post(f"{t}/reopen", data={"csrf": csrf_of(client)}).status_code == 303
    assert ids["ticket"] in client.get("/console/tickets").text

    r = client.post("/console/export", data={"csrf": csrf_of(client), "what": "labelled", "fmt": "csv"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.text.splitlines()[0] == "text,label,source" and "operator" in r.text.splitlines()[1]


def test_operators_cli(tmp_path, monkeypatch, capsys):
    import io

    from bot.cli import main

    db = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["operators", "add", "carol", "--role", "agent", "--db", db]) == 0
    assert main(["operators", "list", "--db", db]) == 0
    out = capsys.readouterr()
    assert "carol\tagent" in out.out and PASSWORD not in out.out + out.err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["operators", "add", "dave", "--db", db]) == 2
    assert main(["operators", "remove", "carol", "--db", db]) == 0
    assert main(["operators", "remove", "carol", "--db", db]) == 2


def test_console_queries_and_logins_on_postgresql(postgres_url):
    """The same queries on PostgreSQL (date(), ILIKE, CASE buckets, the partial unique index on reopen)."""
    from bot.console_data import ConsoleData, Range
    from bot.store import Store

    store = Store(postgres_url)

    class Fake:
        pass

    bot = Fake()
    bot.store = store
    ids = seed(bot)
    data = ConsoleData(store)
    d = data.dashboard(Range.parse(None, None))
    assert d["per_day"] and d["confidence"][5] == 1 and d["handoffs"] == 1
    rows, _ = data.search(q="REFUND", rating="-1", band="low", kind="feedback")
    assert [r["id"] for r in rows] == [ids["message_id"]]
    assert [r["id"] for r in data.review()[0]] == [ids["message_id"]]
    assert [t["id"] for t in data.tickets("open")[0]] == [ids["ticket"]]
    assert data.close_ticket(ids["ticket"], "alice", "done") and data.reopen_ticket(ids["ticket"])
    ops = Operators(store)
    ops.add("pg-alice", PASSWORD, "agent")
    token = ops.login("pg-alice", PASSWORD)
    assert ops.session(token).name == "pg-alice" and ops.login("pg-alice", "wrong password") is None
    store.close()


def test_dashboard_shows_drift_and_hand_off_delivery(console):
    server, bot, ids = console
    client, _ = login(server.url)
    page = client.get("/console").text
    assert "Drift: the last 7 days" in page and bot.classifier.version in page
    # the seeded negative message is all the week holds: a label mix far from the model's 1/3 each
    section = page[page.index("Drift:"):page.index("Hand-off notifications")]
    assert "Warning:" in section and "label mix" in section
    assert "Hand-off notifications" in page and "delivered" in page and "failed" in page


def test_an_agent_erases_one_customers_conversation_from_the_console(console):
    server, bot, _ = console
    sid = "erase-me"
    bot.reply(sid, "my card 4111 1111 1111 1111 was charged twice")
    from bot.sessions import conversation_id

    cid = conversation_id(sid)
    viewer, _ = login(server.url, "vic")
    page = f"/console/conversations/{cid}"
    assert "Erase conversation" not in viewer.get(page).text
    assert viewer.post(f"{page}/erase", data={"csrf": csrf_of(viewer)}).status_code == 403
    agent, _ = login(server.url)
    assert "Erase conversation" in agent.get(page).text
    assert agent.post(f"{page}/erase", data={"csrf": "forged"}).status_code == 403          # CSRF
    assert bot.store.conversation(cid) is not None
    assert agent.post(f"{page}/erase", data={"csrf": csrf_of(agent)}).status_code == 303
    assert bot.store.conversation(cid) is None and not bot.store.history(cid)
    with bot.store.engine.connect() as conn:
        audit = conn.exec_driver_sql("SELECT action, conversation_id, actor FROM audit_log").all()
    assert ("erase", cid, "console:alice") in [tuple(a) for a in audit]
