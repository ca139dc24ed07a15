"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser download).

Set FEEDBACKBOT_SCREENSHOTS=DIR to keep screenshots (README images come from here).
"""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.channels.http import create_app
from bot.config import PolicyConfig, ServerConfig
from bot.store import Correction, Message, Ticket

from conftest import ALWAYS_HIGH, ALWAYS_LOW, LiveServer, free_port, make_bot, text_predicted_as

CHROMIUM = os.environ.get("FEEDBACKBOT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class HostPage:
    """A customer's website on another origin (another port) that embeds the widget with one script tag."""

    def __init__(self, bot_url: str, port: int, hostname: str = "127.0.0.1",
                 body: str = "<h1>Example Shop</h1><p>Our products…</p>"):
        html = (f"<!doctype html><html><head><title>Shop</title></head><body style='font-family:sans-serif;margin:40px'>"
                f"{body}<script src=\"{bot_url}/widget.js\" defer></script></body></html>").encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args):
                pass

        self.port = port
        self.url = f"http://{hostname}:{self.port}"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def site(tiny_model_dir, tmp_path_factory):
    """The bot server plus two host pages: one allowed to embed the widget, one not."""
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path_factory.mktemp('browser') / 'fb.sqlite3'}")
    # Pages on localhost:PORT are another origin than the bot's 127.0.0.1:PORT; only `allowed` is listed.
    allowed_port = free_port()
    server = LiveServer(create_app(bot, ServerConfig(allowed_origins=[f"http://localhost:{allowed_port}"])))
    allowed = HostPage(server.url, allowed_port, hostname="localhost")
    denied = HostPage(server.url, free_port())
    hosts = [allowed, denied]
    yield server, bot, allowed, denied
    for h in hosts:
        h.stop()
    server.stop()


def eventually(check, timeout: float = 15.0):
    """Poll until ``check()`` holds (the store is written by another thread after the click)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def _shot(page, name):
    target = os.environ.get("FEEDBACKBOT_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / name))


def test_gradio_chat_replies_and_stores_the_exchange_and_rating(browser, site):
    server, bot, _, _ = site
    page = browser.new_page(viewport={"width": 1000, "height": 640})
    page.goto(server.url + "/", wait_until="load")
    texts = ["The delivery was late again and nobody called me back", "Thanks, the refund arrived today"]
    for i, text in enumerate(texts):
        box = page.get_by_role("textbox").first
        box.wait_for(timeout=30000)
        box.fill(text)
        page.keyboard.press("Enter")
        page.locator('[data-testid="bot"]').nth(i).wait_for(timeout=30000)
    shown = [page.locator('[data-testid="bot"]').nth(i).inner_text().strip() for i in range(2)]
    rows = [r for r in bot.store.iter_messages() if r["channel"] == "gradio"]
    assert [r["text"] for r in rows] == texts
    assert [r["reply"] for r in rows] == shown
    page.get_by_label("Like", exact=True).nth(1).click()      # thumbs up on the second reply
    eventually(lambda: bot.store.get_message(rows[1]["id"]).rating == 1)
    assert bot.store.get_message(rows[0]["id"]).rating is None
    _shot(page, "chat.png")
    page.close()


def test_widget_on_another_origin_opens_chats_and_stores(browser, site):
    server, bot, allowed, _ = site
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(allowed.url, wait_until="load")
    page.locator("#feedbackbot-launcher").click()
    frame = page.frame_locator("#feedbackbot-panel")
    frame.locator("body[data-ready='1']").wait_for(timeout=30000)
    frame.locator("#text").fill("love the new app <b>really</b> {{ 7*7 }}")
    frame.locator("#send").click()
    bot_msg = frame.locator(".msg.bot .bubble").first
    bot_msg.wait_for(timeout=30000)
    rows = [r for r in bot.store.iter_messages() if r["channel"] == "widget"]
    assert len(rows) == 1 and rows[0]["text"] == "love the new app <b>really</b> {{ 7*7 }}"
    assert bot_msg.inner_text().startswith(rows[0]["reply"][:40])
    assert frame.locator(".msg.you .bubble").first.inner_text() == "love the new app <b>really</b> {{ 7*7 }}"  # shown as text
    assert frame.locator(".msg.you b").count() == 0
    frame.locator(".msg.bot .rate button").first.click()
    eventually(lambda: bot.store.get_message(rows[0]["id"]).rating == 1)
    _shot(page, "widget.png")
    page.close()


def test_widget_is_not_framed_on_an_origin_outside_the_allow_list(browser, site):
    server, bot, _, denied = site
    page = browser.new_page()
    with page.expect_console_message(lambda m: m.type == "warning" and "allowed_origins" in m.text, timeout=15000):
        page.goto(denied.url, wait_until="load")
    assert page.locator("#feedbackbot-launcher").count() == 0          # no button, so no grey refused frame
    assert page.frame(url=lambda u: u.startswith(server.url)) is None
    # and were a page to frame the panel itself, CSP frame-ancestors still refuses it
    page.evaluate("src => { const f = document.createElement('iframe'); f.src = src; document.body.appendChild(f); }",
                  server.url + "/widget")
    page.wait_for_function("document.querySelector('iframe')")
    frame = page.frame(url=lambda u: u.startswith(server.url))
    assert frame is None or frame.locator("#text").count() == 0
    page.close()


PAYLOAD = '<img src=x onerror="window.__pwned=1"> {{ 7*7 }} <script>window.__pwned=2</script> \u05e9\u05dc\u05d5\u05dd \U0001F621'


def test_hostile_text_in_chat_and_widget_is_shown_as_text_and_stored_verbatim(browser, site):
    server, bot, allowed, _ = site
    page = browser.new_page()
    page.goto(server.url + "/", wait_until="load")
    box = page.get_by_role("textbox").first
    box.wait_for(timeout=30000)
    box.fill(PAYLOAD)
    page.keyboard.press("Enter")
    page.locator('[data-testid="bot"]').first.wait_for(timeout=30000)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert "49" not in page.locator('[data-testid="bot"]').first.inner_text()
    page.goto(allowed.url, wait_until="load")
    page.locator("#feedbackbot-launcher").click()
    frame = page.frame_locator("#feedbackbot-panel")
    frame.locator("body[data-ready='1']").wait_for(timeout=30000)
    frame.locator("#text").fill(PAYLOAD)
    frame.locator("#send").click()
    frame.locator(".msg.bot").first.wait_for(timeout=30000)
    assert frame.locator(".msg.you .bubble").first.inner_text() == PAYLOAD
    assert frame.locator(".msg img, .msg script").count() == 0
    assert page.evaluate("window.__pwned") is None
    stored = [r["text"] for r in bot.store.iter_messages() if r["text"] == PAYLOAD]
    assert len(stored) == 2            # once from the chat page, once from the widget
    page.close()


# --- What is stored must be true: the browser halves of the integrity scenarios --------------------------------

def _send(page, text, n):
    """Type a chat message and wait for the n-th bot message (0-based)."""
    box = page.get_by_role("textbox").first
    box.wait_for(timeout=30000)
    box.fill(text)
    page.keyboard.press("Enter")
    page.locator('[data-testid="bot"]').nth(n).wait_for(timeout=30000)


def _gradio_rows(bot, since):
    return [r for r in bot.store.iter_messages() if r["channel"] == "gradio" and r["id"] > since]


def _last_id(bot):
    return max([r["id"] for r in bot.store.iter_messages()] or [0])


def test_gradio_likes_are_a_state_and_undo_takes_the_rating_back(browser, site):
    server, bot, _, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_HIGH)
    since = _last_id(bot)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(server.url + "/", wait_until="load")
    _send(page, "the crew was friendly", 0)
    _send(page, "the seat was fine", 1)
    first, second = (r["id"] for r in _gradio_rows(bot, since))
    rating = lambda mid: bot.store.get_message(mid).rating  # noqa: E731
    page.get_by_label("Like", exact=True).nth(1).click()
    eventually(lambda: rating(second) == 1)
    page.get_by_label("Liked", exact=True).click()                # like again = un-like
    eventually(lambda: rating(second) is None)
    page.get_by_label("Dislike", exact=True).nth(1).click()
    eventually(lambda: rating(second) == -1)
    page.get_by_label("Like", exact=True).nth(1).click()          # screen: "Liked"; store: +1
    eventually(lambda: rating(second) == 1)
    assert page.get_by_label("Liked", exact=True).count() == 1
    page.get_by_label("Dislike", exact=True).first.click()
    eventually(lambda: rating(first) == -1)
    page.get_by_label("Dislike", exact=True).last.click()           # the first now reads "Disliked"
    eventually(lambda: rating(second) == -1)
    page.get_by_label("Undo", exact=True).click()                  # the second exchange leaves the screen...
    eventually(lambda: bot.store.get_message(second).withdrawn_at is not None)
    assert rating(second) is None and rating(first) == -1          # ...and its rating leaves the store
    assert page.locator('[data-testid="bot"]').count() == 1
    page.close()


def test_gradio_retry_opens_no_second_ticket_and_buttons_answer_the_question(browser, site):
    server, bot, _, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_HIGH)
    since, tickets = _last_id(bot), bot.store.count(Ticket)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(server.url + "/", wait_until="load")
    _send(page, text_predicted_as(bot.classifier, "negative"), 0)
    shown = page.locator('[data-testid="bot"]').first.inner_text().strip()
    page.get_by_label("Retry", exact=True).click()
    page.wait_for_function("document.querySelectorAll('[data-testid=bot]').length === 1 && "
                           "!document.querySelector('.generating, .pending')", timeout=30000)
    eventually(lambda: page.locator('[data-testid="bot"]').first.inner_text().strip() == shown)
    assert bot.store.count(Ticket) == tickets + 1 and len(_gradio_rows(bot, since)) == 1
    bot.config.policy = PolicyConfig(**ALWAYS_LOW)
    _send(page, "the flight was, well, a flight", 1)
    asked = _gradio_rows(bot, since)[-1]
    page.get_by_role("button", name="No", exact=True).click()      # a quick reply: "did I get that right?" - no
    page.locator('[data-testid="bot"]').nth(2).wait_for(timeout=30000)
    page.get_by_role("button", name="\U0001F44E Bad", exact=True).click()
    page.locator('[data-testid="bot"]').nth(3).wait_for(timeout=30000)
    eventually(lambda: next(r for r in bot.store.iter_messages() if r["id"] == asked["id"])["correction"] == "negative")
    row = next(r for r in bot.store.iter_messages() if r["id"] == asked["id"])
    assert row["correction_source"] == "customer_button"
    page.close()


def test_gradio_clear_starts_a_new_conversation_so_yes_answers_nothing(browser, site):
    server, bot, _, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_LOW)
    since, corrections = _last_id(bot), bot.store.count(Correction)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(server.url + "/", wait_until="load")
    _send(page, text_predicted_as(bot.classifier, "negative"), 0)  # the bot asks "did I get that right?"
    page.get_by_label("Clear", exact=True).click()
    page.wait_for_function("document.querySelectorAll('[data-testid=bot]').length === 0", timeout=10000)
    _send(page, "yes", 0)
    rows = _gradio_rows(bot, since)
    assert rows[1]["kind"] == "feedback" and rows[1]["conversation_id"] != rows[0]["conversation_id"]
    assert bot.store.count(Correction) == corrections and rows[1]["ticket"] is None
    page.close()


def _open_widget(page, host):
    page.goto(host.url, wait_until="load")
    page.locator("#feedbackbot-launcher").click()
    frame = page.frame_locator("#feedbackbot-panel")
    frame.locator("body[data-ready='1']").wait_for(timeout=30000)
    return frame


def test_widget_reload_restores_the_conversation_and_its_question(browser, site):
    server, bot, allowed, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_LOW)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    frame = _open_widget(page, allowed)
    frame.locator("#text").fill("the staff ignored me")
    frame.locator("#send").click()
    frame.locator(".quick button").first.wait_for(timeout=30000)
    asked = max(r["id"] for r in bot.store.iter_messages() if r["channel"] == "widget")
    page.reload(wait_until="load")                                 # the panel comes back...
    frame = _open_widget(page, allowed)
    assert frame.locator(".msg.you .bubble").all_inner_texts() == ["the staff ignored me"]   # ...with the conversation
    assert frame.locator(".msg.bot").count() == 1
    frame.get_by_role("button", name="Yes, that's right").click()  # the restored question can still be answered
    frame.locator(".msg.bot").nth(1).wait_for(timeout=30000)
    row = next(r for r in bot.store.iter_messages() if r["id"] == asked)
    assert row["correction"] == bot.store.get_message(asked).label and row["correction_source"] == "customer_button"
    assert len({r["conversation_id"] for r in bot.store.iter_messages() if r["id"] >= asked}) == 1
    page.close()


def test_widget_rating_is_one_state_and_quick_sends_stay_one_conversation(browser, site):
    server, bot, allowed, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_HIGH)
    since = _last_id(bot)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.add_init_script("sessionStorage.clear()")
    frame = _open_widget(page, allowed)
    held = []                                                      # the first reply is held back...
    page.route("**/api/v1/messages", lambda route: held.append(route) if not held else route.continue_())
    frame.locator("#text").fill("first message")
    frame.locator("#text").press("Enter")
    eventually(lambda: bool(held) or page.wait_for_timeout(20) or False)
    frame.locator("#text").fill("second message")                  # ...while the customer types on
    frame.locator("#text").press("Enter")                          # ignored while busy: the text stays
    assert frame.locator("#send").is_disabled() and frame.locator("#text").input_value() == "second message"
    held[0].continue_()
    frame.locator(".msg.bot").first.wait_for(timeout=30000)
    eventually(lambda: frame.locator("#send").is_enabled())
    assert frame.locator("#text").input_value() == "second message"
    frame.locator("#text").press("Enter")
    frame.locator(".msg.bot").nth(1).wait_for(timeout=30000)
    rows = [r for r in bot.store.iter_messages() if r["id"] > since]
    assert [r["text"] for r in rows] == ["first message", "second message"]
    assert len({r["conversation_id"] for r in rows}) == 1
    assert frame.locator(".msg.you .bubble").all_inner_texts() == ["first message", "second message"]
    helpful = frame.locator(".msg.bot").first.get_by_role("button", name="Helpful", exact=True)
    not_helpful = frame.locator(".msg.bot").first.get_by_role("button", name="Not helpful", exact=True)
    helpful.click()
    eventually(lambda: bot.store.get_message(rows[0]["id"]).rating == 1)
    not_helpful.click()
    eventually(lambda: bot.store.get_message(rows[0]["id"]).rating == -1)
    assert helpful.get_attribute("aria-pressed") == "false" and not_helpful.get_attribute("aria-pressed") == "true"
    not_helpful.click()                                            # pressing it again takes the rating back
    eventually(lambda: bot.store.get_message(rows[0]["id"]).rating is None)
    assert frame.locator(".rate button[aria-pressed='true']").count() == 0
    page.close()
