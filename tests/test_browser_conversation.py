"""The conversation in headless Chromium: the bot greets, quick replies are clickable in the chat and the widget,
a CSAT rating is stored, a German customer is answered in German, mixed feedback gets the mixed reply."""

import pytest

from bot.channels.http import create_app
from bot.config import PolicyConfig, ServerConfig
from bot.policy import Prediction
from bot.sessions import conversation_id  # noqa: F401  (documents how conversations are keyed)

from conftest import ALWAYS_HIGH, LiveServer, eventually, free_port, make_bot  # noqa: F401
from test_browser import HostPage, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.slow


def opinionated(texts):
    """A stand-in classifier with clear opinions ("love" good, "slow"/"spät" bad), so these tests exercise the
    conversation and not a random tiny model."""
    out = []
    for t in texts:
        bad, good = any(w in t for w in ("slow", "spät", "late")), "love" in t
        probs = {"negative": .9, "neutral": .05, "positive": .05} if bad and not good else \
            {"negative": .05, "neutral": .05, "positive": .9} if good and not bad else \
            {"negative": .45, "neutral": .1, "positive": .45}
        out.append(Prediction(max(probs, key=probs.get), probs))
    return out


@pytest.fixture(scope="module")
def talk(tiny_model_dir, tmp_path_factory):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path_factory.mktemp('talk') / 'fb.sqlite3'}")
    bot.config.limits.per_ip_per_minute = bot.config.limits.per_session_per_minute = 0
    bot.classifier.predict = opinionated
    bot.batcher = None
    bot.config.policy = PolicyConfig(default_threshold=0.8, ambiguity_margin=0.15)
    allowed_port = free_port()
    server = LiveServer(create_app(bot, ServerConfig(allowed_origins=[f"http://localhost:{allowed_port}"])))
    host = HostPage(server.url, allowed_port, hostname="localhost")
    yield server, bot, host
    host.stop()
    server.stop()


def bot_messages(page):
    return page.locator('[data-testid="bot"]')


def send(page, text, n):
    box = page.get_by_role("textbox").first
    box.fill(text)
    page.keyboard.press("Enter")
    bot_messages(page).nth(n).wait_for(timeout=30000)
    return bot_messages(page).nth(n).inner_text().strip()


def test_chat_greets_answers_questions_with_a_person_button_and_mixed_feedback(browser, talk):
    server, bot, _ = talk
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(server.url + "/", wait_until="load")
    bot_messages(page).first.wait_for(timeout=30000)
    assert "feedback assistant" in bot_messages(page).first.inner_text() or "Thanks for stopping by" in \
        bot_messages(page).first.inner_text()                          # the bot speaks first
    send(page, "What are your opening hours?", 1)
    page.get_by_role("button", name="Talk to a person", exact=True).click()     # a quick reply in the chat
    bot_messages(page).nth(2).wait_for(timeout=30000)
    person = bot_messages(page).nth(2).inner_text()
    assert "ticket FB-" in person
    mixed = send(page, "I love the new update but the login is slow", 3)
    assert "I love the new update" in mixed and "the login is slow" in mixed
    rows = [r for r in bot.store.iter_messages() if r["channel"] == "gradio"]
    assert [r["kind"] for r in rows[-3:]] == ["question", "person", "feedback"] and rows[-1]["template"] == "mixed"
    page.close()


def test_a_german_customer_is_answered_in_german_in_the_chat(browser, talk):
    server, bot, _ = talk
    page = browser.new_page(viewport={"width": 1000, "height": 800}, locale="de-DE")
    page.goto(server.url + "/", wait_until="load")
    bot_messages(page).first.wait_for(timeout=30000)
    reply = send(page, "Die Lieferung kam schon wieder zu spät und niemand hat angerufen", 1)
    row = [r for r in bot.store.iter_messages() if r["channel"] == "gradio"][-1]
    assert row["language"] == "de" and row["template"] == "negative_high"
    german = (bot.renderer.directory / "de" / "negative_high.j2").read_text(encoding="utf-8")
    assert reply[:20] in german
    page.close()


def test_widget_quick_replies_and_csat_are_stored(browser, talk):
    server, bot, host = talk
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(host.url, wait_until="load")
    page.locator("#feedbackbot-launcher").click()
    frame = page.frame_locator("#feedbackbot-panel")
    frame.locator("body[data-ready='1']").wait_for(timeout=30000)

    def say(text, n):
        eventually(lambda: frame.locator("#send").is_enabled())
        frame.locator("#text").fill(text)
        frame.locator("#send").click()
        frame.locator(".msg.bot").nth(n).wait_for(timeout=30000)

    start = frame.locator(".msg.bot").count()              # 1 when the widget shows the greeting
    say("I love the new app", start)
    say("Thanks, bye", start + 1)
    frame.get_by_role("button", name="4 ★★★★").click()      # the CSAT quick reply
    frame.locator(".msg.bot").nth(start + 2).wait_for(timeout=30000)
    widget = [r for r in bot.store.iter_messages() if r["channel"] == "widget"]
    conv = bot.store.conversation(widget[-1]["conversation_id"])
    assert conv["csat"] == 4 and [r["kind"] for r in widget[-3:]] == ["feedback", "thanks", "answer"]
    page.close()
