"""The operator console in headless Chromium: log in, the dashboard's charts render, relabel a message in the review
queue (stored as an operator correction with who and when), close a ticket.

FEEDBACKBOT_SCREENSHOTS=DIR keeps console-dashboard.png (the README's image).
"""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.channels.http import create_app
from bot.config import ServerConfig
from bot.operators import Operators
from bot.store import Conversation, Correction, Message, Ticket, TurnRecord

from conftest import LiveServer, make_bot
from test_browser import browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
TEXTS = {"negative": ["The parcel arrived broken and nobody answers", "Waited 40 minutes on hold, awful"],
         "neutral": ["I ordered on Monday", "The app has a new menu"],
         "positive": ["Lovely staff, quick delivery!", "Great price and it works perfectly"]}


def fill(bot) -> dict:
    """Two weeks of feedback on two channels, some CSAT, one ticket, one low-confidence message to review."""
    store, now = bot.store, datetime.now(timezone.utc)
    n = 0
    for day in range(14):
        for i, (label, texts) in enumerate(TEXTS.items()):
            for k in range((day * 7 + i * 3) % 5 + 1):
                n += 1
                conf = 0.55 + ((n * 37) % 45) / 100
                probs = {lab: (conf if lab == label else (1 - conf) / 2) for lab in TEXTS}
                cid = f"c{n}"
                mid = store.record_turn(TurnRecord(conversation_id=cid, channel=("widget", "api")[n % 2],
                                                   text=texts[k % 2], kind="feedback", label=label,
                                                   probabilities=probs, band="high" if conf >= 0.8 else "low",
                                                   template="t", reply="Thanks for telling us.", latency_ms=1.0,
                                                   model_version="m"))
                at = now - timedelta(days=day, minutes=n)
                with store.engine.begin() as conn:
                    conn.execute(update(Message.__table__).where(Message.__table__.c.id == mid).values(
                        created_at=at, band="high"))
                    conn.execute(update(Conversation.__table__).where(Conversation.__table__.c.id == cid).values(
                        created_at=at, csat=(n % 5) + 1 if n % 3 == 0 else None, csat_at=at if n % 3 == 0 else None))
    probs = {"negative": 0.45, "neutral": 0.35, "positive": 0.2}
    review = store.record_turn(TurnRecord(conversation_id="c-review", channel="widget", text="meh, it was fine i guess",
                                          kind="feedback", label="negative", probabilities=probs, band="low",
                                          template="t", reply="Thanks.", latency_ms=1.0, model_version="m"))
    store.record_turn(TurnRecord(conversation_id="c-ticket", channel="api", text="My refund is two weeks late",
                                 kind="feedback", label="negative", probabilities={"negative": 0.9, "neutral": 0.05,
                                 "positive": 0.05}, band="high", template="t", reply="A person will get back to you.",
                                 latency_ms=1.0, model_version="m", ticket="FB-0000BEEF", ticket_is_new=True,
                                 contact=("email", "kim@example.com")))
    return {"review": review, "ticket": "FB-0000BEEF"}


@pytest.fixture(scope="module")
def console_site(tiny_model_dir, tmp_path_factory):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path_factory.mktemp('bconsole') / 'fb.sqlite3'}")
    Operators(bot.store).add("alice", PASSWORD, "agent")
    ids = fill(bot)
    server = LiveServer(create_app(bot, ServerConfig(), with_gradio=False))
    yield server, bot, ids
    server.stop()


def test_console_in_chromium(browser, console_site):  # noqa: F811
    server, bot, ids = console_site
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)   # e.g. a CSP refusal
    page.goto(f"{server.url}/console")
    assert page.url.endswith("/console/login")
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart rect").count() > 40              # bars drawn for every day, label and bucket
    assert page.locator(".card b").first.inner_text() != "0"
    target = os.environ.get("FEEDBACKBOT_SCREENSHOTS")

    def shot(name: str) -> None:   # the README's images
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(target) / f"console-{name}.png"), full_page=True)

    shot("dashboard")
    page.get_by_role("link", name="Conversations").click()
    page.get_by_role("heading", name="Conversations").wait_for()
    shot("conversations")

    page.get_by_role("link", name="Review queue").click()
    page.locator(f"#r{ids['review']}").wait_for()
    shot("review")
    row = page.locator(f"#r{ids['review']}")
    row.get_by_role("combobox").select_option("neutral")
    row.get_by_role("button", name="Set label").click()
    page.get_by_role("status").filter(has_text=f"Message {ids['review']} labelled neutral").wait_for()
    assert page.locator(f"#r{ids['review']}").count() == 0
    with bot.store.engine.connect() as conn:
        c = conn.execute(select(Correction.__table__).where(Correction.__table__.c.message_id == ids["review"])).one()
    assert (c.label, c.source, c.operator) == ("neutral", "operator", "alice")
    assert abs(datetime.now(timezone.utc) - c.created_at.replace(tzinfo=timezone.utc)) < timedelta(minutes=1)

    page.get_by_role("link", name="Tickets").click()
    page.get_by_role("link", name=ids["ticket"]).click()
    page.get_by_label("Note").wait_for()
    shot("ticket")
    page.get_by_label("Note").fill("Refund sent; customer called.")
    page.get_by_role("button", name="Close ticket").click()
    page.get_by_role("status").filter(has_text="Ticket closed.").wait_for()
    with bot.store.engine.connect() as conn:
        t = conn.execute(select(Ticket.__table__).where(Ticket.__table__.c.id == ids["ticket"])).one()
    assert (t.status, t.closed_by, t.close_note) == ("closed", "alice", "Refund sent; customer called.")
    assert page.get_by_role("button", name="Reopen").is_visible()
    assert not errors, errors
    ctx.close()
