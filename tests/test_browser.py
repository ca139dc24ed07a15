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

from conftest import ALWAYS_HIGH, ALWAYS_LOW, LiveServer, eventually, free_port, make_bot, text_predicted_as  # noqa: F401

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
    bot.config.templates.business_name = "Example Air"     # shown in the chat's header and the widget's title
    bot.config.conversation.greet_channels = ["widget"]   # the chat tests count bot messages; the widget's greeting
                                                          # is its own element (.msg.greeting)
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

class _StreamsInFlight:
    """How many of a page's ``queue/data`` requests (Gradio's event stream) are in flight, from Playwright's
    request events."""

    def __init__(self, page):
        self.count = 0
        page.on("request", lambda request: self._seen(request, 1))
        page.on("requestfinished", lambda request: self._seen(request, -1))
        page.on("requestfailed", lambda request: self._seen(request, -1))

    def _seen(self, request, step: int) -> None:
        if "/queue/data" in request.url:
            self.count += step


_STREAMS: dict = {}     # page -> its _StreamsInFlight


def _stream_closed(page, timeout_s: float = 30.0) -> None:
    """Wait until Gradio's event stream for this page is closed (no ``queue/data`` request in flight).

    Gradio closes a page's stream when its last pending event completes; a new event sent in the moment it closes
    can be lost by Gradio's browser client, which then ignores the box (README, "A known flake"). A person types
    for seconds after a reply; this test types at once, so it first lets the stream close, as a person would.
    Tracking starts at a page's first send, before any queued event of that page."""
    if page not in _STREAMS:
        _STREAMS[page] = _StreamsInFlight(page)
    streams = _STREAMS[page]
    deadline = time.monotonic() + timeout_s
    while streams.count > 0:
        assert time.monotonic() < deadline, "Gradio's event stream stayed open"
        page.wait_for_timeout(20)       # lets Playwright deliver the page's request events


def _click(page, locator) -> None:
    """Click a Gradio control (like, undo, retry, an answer button) once the page's event stream is closed."""
    _stream_closed(page)
    locator.click()


def _send(page, text, n):
    """Type a chat message and wait for the n-th bot message (0-based)."""
    _stream_closed(page)
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
    _click(page, page.get_by_label("Like", exact=True).nth(1))
    eventually(lambda: rating(second) == 1)
    _click(page, page.get_by_label("Liked", exact=True))            # like again = un-like
    eventually(lambda: rating(second) is None)
    _click(page, page.get_by_label("Dislike", exact=True).nth(1))
    eventually(lambda: rating(second) == -1)
    _click(page, page.get_by_label("Like", exact=True).nth(1))      # screen: "Liked"; store: +1
    eventually(lambda: rating(second) == 1)
    assert page.get_by_label("Liked", exact=True).count() == 1
    _click(page, page.get_by_label("Dislike", exact=True).first)
    eventually(lambda: rating(first) == -1)
    _click(page, page.get_by_label("Dislike", exact=True).last)     # the first now reads "Disliked"
    eventually(lambda: rating(second) == -1)
    _click(page, page.get_by_label("Undo", exact=True))             # the second exchange leaves the screen...
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
    _click(page, page.get_by_label("Retry", exact=True))
    page.wait_for_function("document.querySelectorAll('[data-testid=bot]').length === 1 && "
                           "!document.querySelector('.generating, .pending')", timeout=30000)
    eventually(lambda: page.locator('[data-testid="bot"]').first.inner_text().strip() == shown)
    assert bot.store.count(Ticket) == tickets + 1 and len(_gradio_rows(bot, since)) == 1
    bot.config.policy = PolicyConfig(**ALWAYS_LOW)
    _send(page, "the flight was, well, a flight", 1)               # a follow-up question, no buttons
    asked = _gradio_rows(bot, since)[-1]
    _send(page, "the seat was there and so was I", 2)              # still unsure: label buttons
    _click(page, page.get_by_role("button", name="\U0001F44E Bad", exact=True))
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
    _click(page, page.get_by_label("Clear", exact=True))
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
    frame.locator(".msg.bot").first.wait_for(timeout=30000)       # "what happened?"
    asked = max(r["id"] for r in bot.store.iter_messages() if r["channel"] == "widget")
    eventually(lambda: frame.locator("#send").is_enabled())
    frame.locator("#text").fill("they looked at their phones")
    frame.locator("#send").click()
    frame.locator(".quick button").first.wait_for(timeout=30000)   # still unsure: the label buttons
    page.reload(wait_until="load")                                 # the panel comes back...
    frame = _open_widget(page, allowed)
    assert frame.locator(".msg.you .bubble").all_inner_texts() == ["the staff ignored me",
                                                                   "they looked at their phones"]
    assert frame.locator(".msg.bot").count() == 2                  # ...with the conversation
    frame.get_by_role("button", name="\U0001F44E Bad").click()     # the restored question can still be answered
    frame.locator(".msg.bot").nth(2).wait_for(timeout=30000)
    row = next(r for r in bot.store.iter_messages() if r["id"] == asked)
    assert row["correction"] == "negative" and row["correction_source"] == "customer_button"
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


# --- issue 14: what a customer meets ------------------------------------------------------------------------------

def _focused_tag(page):
    return page.evaluate("document.activeElement && document.activeElement.tagName")


def _poll(page, check, timeout=15.0):
    """Like eventually(), but lets Playwright's event loop run between checks."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        page.wait_for_timeout(50)


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_gradio_fills_the_window_keeps_focus_and_shows_text_as_text(browser, site, viewport):
    server, bot, _, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_HIGH)
    page = browser.new_page(viewport=viewport)
    page.goto(server.url + "/", wait_until="load")
    assert page.get_by_role("heading", level=1).inner_text() == f"Feedback for {bot.config.templates.business_name}"
    assert "stored" in page.locator(".fb-header p").inner_text()
    box = page.get_by_role("textbox", name="Your message")
    box.fill("love it <b>bold</b> **stars** <img src=x>")
    box.press("Enter")
    page.locator('[data-testid="bot"]').first.wait_for(timeout=30000)
    _poll(page, lambda: _focused_tag(page) == "TEXTAREA")                 # a follow-up can be typed at once
    user = page.locator('[data-testid="user"]').first
    assert user.inner_text().strip() == "love it <b>bold</b> **stars** <img src=x>"
    assert user.locator("b, strong, img").count() == 0
    chat = page.locator(".bubble-wrap").first.locator("xpath=ancestor::div[contains(@class, 'block')][1]").bounding_box()
    form = page.locator("#fb-input").bounding_box()
    assert form["y"] + form["height"] <= viewport["height"] + 1            # the box is on screen...
    assert form["y"] + form["height"] >= viewport["height"] - 40           # ...at the bottom of it
    assert chat["height"] >= viewport["height"] * 0.4                      # and the chat takes the room above
    assert page.get_by_role("button", name="Send").count() == 1
    assert page.locator("[aria-label*='hare' i], [title*='hare' i]").count() == 0   # no Spaces share button
    page.close()


def test_gradio_refuses_with_a_notice_and_keeps_the_text(browser, site):
    server, bot, _, _ = site
    since = _last_id(bot)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server.url + "/", wait_until="load")
    box = page.get_by_role("textbox", name="Your message")
    long = "x" * (bot.config.limits.max_message_chars + 200)
    box.fill(long)
    box.press("Enter")
    page.get_by_text("Please shorten it").wait_for(timeout=15000)
    assert box.input_value() == long                                       # kept for editing
    assert page.locator('[data-testid="bot"]').count() == 0 and _gradio_rows(bot, since) == []
    page.close()


def test_gradio_rate_limit_is_a_notice_not_a_bot_turn(browser, site, tiny_model_dir, tmp_path):
    from bot.config import LimitsConfig

    limited = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'rl.sqlite3'}")
    limited.config.limits = LimitsConfig(per_session_per_minute=1)
    limited.config.conversation.greet_channels = []
    server = LiveServer(create_app(limited, ServerConfig()))
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url + "/", wait_until="load")
        _send(page, "first", 0)
        box = page.get_by_role("textbox", name="Your message")
        box.fill("second, too soon")
        box.press("Enter")
        page.get_by_text("faster than we can read").wait_for(timeout=15000)
        assert box.input_value() == "second, too soon"
        assert page.locator('[data-testid="bot"]').count() == 1
        assert [m["text"] for m in limited.store.iter_messages()] == ["first"]
        page.close()
    finally:
        server.stop()


def test_gradio_review_link_is_a_link(browser, site):
    server, bot, _, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_HIGH)
    bot.config.templates.review_url = "https://reviews.example/acme"
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url + "/", wait_until="load")
        _send(page, text_predicted_as(bot.classifier, "positive"), 0)
        link = page.locator('[data-testid="bot"] a[href="https://reviews.example/acme"]')
        link.first.wait_for(timeout=5000)
        page.close()
    finally:
        bot.config.templates.review_url = ""


def test_widget_greets_closes_with_esc_and_returns_focus(browser, site):
    server, bot, allowed, _ = site
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script("sessionStorage.clear()")
    page.goto(allowed.url, wait_until="load")
    launcher = page.locator("#feedbackbot-launcher")
    assert launcher.get_attribute("aria-expanded") == "false"
    launcher.click()
    frame = page.frame_locator("#feedbackbot-panel")
    frame.locator("body[data-ready='1']").wait_for(timeout=30000)
    assert launcher.get_attribute("aria-expanded") == "true"
    greeting = frame.locator(".msg.greeting .bubble")
    assert bot.config.templates.business_name in greeting.inner_text()      # the greeting is there on open
    assert frame.locator("#title").inner_text() == bot.config.templates.business_name
    assert frame.locator("#log").get_attribute("role") == "log"
    panel = page.frame(url=lambda u: u.startswith(server.url + "/widget"))
    _poll(page, lambda: panel.evaluate("document.activeElement.id") == "text")   # focus moved into the panel
    for _ in range(6):                                                       # Tab stays inside the panel
        page.keyboard.press("Tab")
        assert panel.evaluate("document.hasFocus() && document.activeElement !== document.body")
    page.keyboard.press("Escape")
    _poll(page, lambda: page.locator("#feedbackbot-panel").is_hidden())
    assert launcher.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "feedbackbot-launcher"
    launcher.click()
    frame.get_by_role("button", name="Close chat").click()
    _poll(page, lambda: page.locator("#feedbackbot-panel").is_hidden())
    assert page.evaluate("document.activeElement.id") == "feedbackbot-launcher"
    page.close()


def test_widget_messages_have_speakers_times_direction_and_big_targets(browser, site):
    server, bot, allowed, _ = site
    bot.config.policy = PolicyConfig(**ALWAYS_LOW)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script("sessionStorage.clear()")
    frame = _open_widget(page, allowed)
    text = "\u0627\u0644\u062a\u0648\u0635\u064a\u0644 \u062a\u0623\u062e\u0631!"
    frame.locator("#text").fill(text)
    frame.locator("#text").press("Enter")
    frame.locator(".msg.bot").first.wait_for(timeout=30000)
    you, reply = frame.locator(".msg.you").first, frame.locator(".msg.bot").first
    assert you.locator(".sr-only").inner_text().strip() == "You said:"
    assert reply.locator(".sr-only").inner_text().strip() == "Bot said:"
    assert you.locator(".bubble").get_attribute("dir") == "auto"
    assert you.locator("time").get_attribute("datetime") and reply.locator("time").count() == 1
    for button in frame.locator("button:visible").all():
        box = button.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, button.inner_text() or button.get_attribute("aria-label")
    page.close()


def test_widget_is_full_screen_on_a_phone_and_badges_a_reply_that_came_while_closed(browser, site):
    server, bot, allowed, _ = site
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.add_init_script("sessionStorage.clear()")
    frame = _open_widget(page, allowed)
    assert page.locator("#feedbackbot-panel").bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    held = []
    page.route("**/api/v1/messages", lambda route: held.append(route))
    frame.locator("#text").fill("where is my refund")
    frame.locator("#text").press("Enter")
    frame.locator(".typing").wait_for(timeout=5000)                       # the bot is typing...
    _poll(page, lambda: bool(held))
    frame.get_by_role("button", name="Close chat").click()                # ...and the customer closes the panel
    held[0].continue_()
    badge = page.locator("#feedbackbot-badge")
    badge.wait_for(state="visible", timeout=30000)
    assert badge.inner_text() == "1" and "1 unread" in page.locator("#feedbackbot-launcher").get_attribute("aria-label")
    page.locator("#feedbackbot-launcher").click()
    assert badge.is_hidden() and frame.locator(".typing").count() == 0
    page.close()


def test_widget_script_tag_options_are_checked_and_applied(browser, site):
    server, bot, _, _ = site
    port = free_port()
    tag = (f'<script src="{server.url}/widget.js" data-color="#0f766e" data-title="Acme help" '
           'data-position="left" data-lang="de" defer></script>')
    # serve a page whose script tag carries data- attributes (one page per test: the allow-list is fixed)
    server_cfg_origin = f"http://localhost:{port}"
    app = create_app(bot, ServerConfig(allowed_origins=[server_cfg_origin]), with_gradio=False)
    own = LiveServer(app)
    html = tag.replace(server.url, own.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"<!doctype html><html><body><h1>Shop</h1>" + html + b"</body></html>")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://localhost:{port}/", wait_until="load")
        launcher = page.locator("#feedbackbot-launcher")
        assert launcher.get_attribute("aria-label") == "Feedback-Chat öffnen"
        assert launcher.bounding_box()["x"] < 100                                  # data-position="left"
        assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 118, 110)"
        launcher.click()
        frame = page.frame_locator("#feedbackbot-panel")
        frame.locator("body[data-ready='1']").wait_for(timeout=30000)
        assert frame.locator("#title").inner_text() == "Acme help"
        assert frame.locator("html").get_attribute("lang") == "de"
        assert frame.locator("#send").inner_text() == "Senden"
        assert frame.locator("header").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 118, 110)"
        page.close()
    finally:
        httpd.shutdown()
        own.stop()


def test_widget_refuses_too_long_text_and_keeps_text_on_failure(browser, site):
    server, bot, allowed, _ = site
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script("sessionStorage.clear()")
    frame = _open_widget(page, allowed)
    since = _last_id(bot)
    limit = bot.config.limits.max_message_chars
    long = "y" * (limit + 200)
    frame.locator("#text").fill(long)                                     # no silent cut at the limit...
    assert frame.locator("#text").input_value() == long
    assert f"{limit + 200:,}" in frame.locator("#counter").inner_text()
    assert frame.locator("#text").get_attribute("aria-invalid") == "true"
    frame.locator("#text").press("Enter")                                 # ...but a clear refusal
    assert "Please shorten it" in frame.locator(".err").inner_text()
    assert frame.locator("#text").input_value() == long and _last_id(bot) == since
    page.route("**/api/v1/messages", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "7", "Content-Type": "application/json"},
        body='{"error": {"code": "rate_limited", "message": "too many messages from this conversation"}}'))
    frame.locator("#text").fill("hello again")
    frame.locator("#text").press("Enter")
    frame.locator(".err").wait_for(timeout=10000)
    assert "wait 7 seconds" in frame.locator(".err").inner_text()
    assert "too many messages from this" not in frame.locator(".err").inner_text()   # not the raw API string
    assert frame.locator("#text").input_value() == "hello again" and frame.locator(".msg.you").count() == 0
    page.unroute("**/api/v1/messages")
    page.route("**/api/v1/messages", lambda route: route.abort())         # offline
    frame.locator("#text").press("Enter")
    frame.get_by_role("button", name="Try again").wait_for(timeout=10000)
    assert frame.locator("#text").input_value() == "hello again"
    page.unroute("**/api/v1/messages")
    frame.get_by_role("button", name="Try again").click()
    frame.locator(".msg.bot").first.wait_for(timeout=30000)
    assert [r["text"] for r in bot.store.iter_messages() if r["id"] > since] == ["hello again"]
    page.close()
