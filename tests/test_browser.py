"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser download).

Set FEEDBACKBOT_SCREENSHOTS=DIR to keep screenshots (README images come from here).
"""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.channels.http import create_app
from bot.config import ServerConfig
from bot.store import Rating

from conftest import LiveServer, free_port, make_bot

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
    page.wait_for_timeout(1500)
    rated = {r["id"]: r["rating"] for r in bot.store.iter_messages()}
    assert rated[rows[1]["id"]] == 1 and rated[rows[0]["id"]] is None
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
    bot_msg = frame.locator(".msg.bot").first
    bot_msg.wait_for(timeout=30000)
    rows = [r for r in bot.store.iter_messages() if r["channel"] == "widget"]
    assert len(rows) == 1 and rows[0]["text"] == "love the new app <b>really</b> {{ 7*7 }}"
    assert bot_msg.inner_text().startswith(rows[0]["reply"][:40])
    assert frame.locator(".msg.you").first.inner_text() == "love the new app <b>really</b> {{ 7*7 }}"  # shown as text
    assert frame.locator(".msg.you b").count() == 0
    frame.locator(".msg.bot .rate button").first.click()
    page.wait_for_timeout(1000)
    assert bot.store.count(Rating) >= 1
    _shot(page, "widget.png")
    page.close()


def test_widget_is_not_framed_on_an_origin_outside_the_allow_list(browser, site):
    server, bot, _, denied = site
    page = browser.new_page()
    page.goto(denied.url, wait_until="load")
    page.locator("#feedbackbot-launcher").click()
    page.wait_for_timeout(2000)
    frame = page.frame(url=lambda u: u.startswith(server.url))
    assert frame is None or frame.locator("#text").count() == 0   # CSP frame-ancestors blocked it
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
    assert frame.locator(".msg.you").first.inner_text() == PAYLOAD
    assert frame.locator(".msg img, .msg script").count() == 0
    assert page.evaluate("window.__pwned") is None
    stored = [r["text"] for r in bot.store.iter_messages() if r["text"] == PAYLOAD]
    assert len(stored) == 2            # once from the chat page, once from the widget
    page.close()
