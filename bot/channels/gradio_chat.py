"""Browser chat: gr.ChatInterface over Bot.reply(); thumbs up/down are stored as ratings."""

from __future__ import annotations

import html
import logging

import gradio as gr

from ..core import Bot, InputError
from ..limits import RateLimited, ReplyGate

log = logging.getLogger("feedbackbot")
EXAMPLES = ["The delivery was late again.", "Love the new app, checkout is so quick now!",
            "Can I change the date of my booking?", "Third time my order arrived damaged. Not happy."]


def _content_text(value) -> str:
    """The text of a chat message value (a string, or Gradio's content dict/list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _content_text(value.get("value", value.get("content", value.get("text", ""))))
    if isinstance(value, (list, tuple)):
        return "".join(_content_text(v) for v in value)
    return "" if value is None else str(value)


def _session(request: gr.Request) -> str:
    return f"gradio-{request.session_hash}"


def offline_theme() -> gr.themes.Base:
    """System fonts only: the default theme fetches Google Fonts, which an offline or privacy-minded
    deployment must not depend on."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def build_chat(bot: Bot, gate: ReplyGate, title: str = "Tell us how we did") -> gr.ChatInterface:
    def respond(message: str, history: list, request: gr.Request) -> str:
        client = request.client.host if request.client else None
        try:
            return gate.reply(bot, _session(request), message, "gradio", client).html
        except (InputError, RateLimited) as exc:
            return f"Sorry — {exc}."

    def on_like(data: gr.LikeData, request: gr.Request) -> None:
        # Identify the rated reply by its content, not its position: the chat's undo/retry buttons change
        # positions in the browser while the store keeps every exchange.
        shown = html.unescape(_content_text(data.value)).strip()
        message_id = bot.store.find_reply(_session(request), shown)
        if message_id is None:
            log.warning("rating for an unknown reply in %s ignored: %r", _session(request), shown[:80])
            raise gr.Error("Sorry, that reply could not be found to rate.")
        liked = data.liked is True or data.liked == "Like"
        bot.rate(message_id, 1 if liked else -1)

    chat = gr.ChatInterface(respond, title=title, examples=EXAMPLES, run_examples_on_click=True,
                            description="Your messages are stored so we can improve. Rate any reply with thumbs up or down.",
                            chatbot=gr.Chatbot(height=420, feedback_options=("Like", "Dislike"), sanitize_html=True,
                                               render_markdown=False),
                            # Gradio's default queue runs one chat turn at a time. Allowing as many as the reply
                            # gate (4) measured slower on 2 cores (bench/load.py: 4.8 vs 5.9 msg/s), so it stays.
                            api_name="chat", analytics_enabled=False)
    with chat:
        chat.chatbot.like(on_like, None, None)
    return chat
