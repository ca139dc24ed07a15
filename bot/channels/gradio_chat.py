"""Browser chat: gr.ChatInterface over Bot.reply(); thumbs up/down are stored as ratings."""

from __future__ import annotations

import gradio as gr

from ..core import Bot, InputError

EXAMPLES = ["The delivery was late again.", "Love the new app, checkout is so quick now!",
            "Can I change the date of my booking?", "Third time my order arrived damaged. Not happy."]


def _session(request: gr.Request) -> str:
    return f"gradio-{request.session_hash}"


def offline_theme() -> gr.themes.Base:
    """System fonts only: the default theme fetches Google Fonts, which an offline or privacy-minded
    deployment must not depend on."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def build_chat(bot: Bot, title: str = "Tell us how we did") -> gr.ChatInterface:
    def respond(message: str, history: list, request: gr.Request) -> str:
        try:
            return bot.reply(_session(request), message, channel="gradio").html
        except InputError as exc:
            return f"⚠️ {exc}"

    def on_like(data: gr.LikeData, request: gr.Request) -> None:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        message_id = bot.store.message_at(_session(request), int(index) // 2)
        if message_id is not None:
            liked = data.liked is True or data.liked == "Like"
            bot.rate(message_id, 1 if liked else -1)

    chat = gr.ChatInterface(respond, title=title, examples=EXAMPLES, run_examples_on_click=True,
                            description="Your messages are stored so we can improve. Rate any reply with thumbs up or down.",
                            chatbot=gr.Chatbot(height=420, feedback_options=("Like", "Dislike"), sanitize_html=True,
                                               render_markdown=False),
                            api_name="chat")
    with chat:
        chat.chatbot.like(on_like, None, None)
    return chat
