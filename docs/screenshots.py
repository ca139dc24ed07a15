"""Take the README screenshots (docs/images/chat.png, widget.png) with the shipped default model.

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


def main() -> None:
    out = ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    cfg = BotConfig()
    cfg.db.url = f"sqlite:///{tempfile.mkdtemp()}/shots.sqlite3"
    host_port = free_port()
    cfg.server.allowed_origins = [f"http://localhost:{host_port}"]
    bot = Bot.from_config(cfg)
    server = LiveServer(create_app(bot, cfg.server))
    host = HostPage(server.url, host_port, hostname="localhost",
                    body="<h1>Example Shop</h1><p>Spring sale: 20% off everything.</p>")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 620})
        page.goto(server.url + "/", wait_until="load")
        for i, text in enumerate(CHAT):
            box = page.get_by_role("textbox").first
            box.wait_for()
            box.fill(text)
            page.keyboard.press("Enter")
            page.locator('[data-testid="bot"]').nth(i).wait_for()
        page.screenshot(path=str(out / "chat.png"))
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(f"http://localhost:{host_port}/", wait_until="load")
        page.locator("#feedbackbot-launcher").click()
        frame = page.frame_locator("#feedbackbot-panel")
        frame.locator("body[data-ready='1']").wait_for()
        frame.locator("#text").fill(WIDGET)
        frame.locator("#send").click()
        frame.locator(".msg.bot").first.wait_for()
        page.screenshot(path=str(out / "widget.png"))
        browser.close()
    host.stop()
    server.stop()
    print(f"wrote {out / 'chat.png'} and {out / 'widget.png'}")


if __name__ == "__main__":
    main()
