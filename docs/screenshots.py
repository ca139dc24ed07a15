"""Take the README screenshots with the shipped default model: the browser chat and the widget, on a desktop
(1280x800) and a phone (390x844), light and dark -> docs/images/{chat,widget}-{desktop,phone}-{light,dark}.png

    python docs/screenshots.py        # needs Debian's chromium; uses a throwaway SQLite store
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import LiveServer, free_port  # noqa: E402
from test_browser import ARGS, CHROMIUM, HostPage  # noqa: E402

from bot.channels.http import create_app  # noqa: E402
from bot.config import BotConfig  # noqa: E402
from bot.core import Bot  # noqa: E402

CHAT = ["The delivery was late again and nobody called me back.", "Love the new app, checkout is so quick now!"]
WIDGET = "Can I change the date of my booking?"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def main() -> None:
    out = ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    cfg = BotConfig()
    cfg.db.url = f"sqlite:///{tempfile.mkdtemp()}/shots.sqlite3"
    cfg.templates.business_name = "Example Air"
    cfg.templates.review_url = "https://reviews.example/example-air"
    host_port = free_port()
    cfg.server.allowed_origins = [f"http://localhost:{host_port}"]
    bot = Bot.from_config(cfg)
    server = LiveServer(create_app(bot, cfg.server))
    host = HostPage(server.url, host_port, hostname="localhost",
                    body="<h1>Example Air</h1><p>Spring sale: 20% off every flight.</p>")
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for size, viewport in VIEWPORTS.items():
            for scheme in ("light", "dark"):
                context = browser.new_context(viewport=viewport, color_scheme=scheme)
                page = context.new_page()
                page.goto(server.url + ("/?__theme=dark" if scheme == "dark" else "/"), wait_until="load")
                for i, text in enumerate(CHAT):
                    box = page.get_by_role("textbox", name="Your message")
                    box.wait_for()
                    box.fill(text)
                    box.press("Enter")
                    page.locator('[data-testid="bot"]').nth(i).wait_for()
                page.wait_for_timeout(300)       # the last bubble's scroll animation
                written.append(out / f"chat-{size}-{scheme}.png")
                page.screenshot(path=str(written[-1]))
                page.goto(f"http://localhost:{host_port}/", wait_until="load")
                page.locator("#feedbackbot-launcher").click()
                frame = page.frame_locator("#feedbackbot-panel")
                frame.locator("body[data-ready='1']").wait_for()
                frame.locator("#text").fill(WIDGET)
                frame.locator("#text").press("Enter")
                frame.locator(".msg.bot").first.wait_for()
                written.append(out / f"widget-{size}-{scheme}.png")
                page.screenshot(path=str(written[-1]))
                context.close()
        browser.close()
    host.stop()
    server.stop()
    print("wrote " + ", ".join(str(w.relative_to(ROOT)) for w in written))


if __name__ == "__main__":
    main()
