"""Browser chat: gr.ChatInterface over Bot.reply(); thumbs up/down are stored as the reply's rating.

What the store holds follows what the chat shows:
- a chat's conversation is named by the browser session and a nonce kept in the page's server-side state (and in
  the bot messages' metadata); Clear and a new page start a new conversation, so no question asked in a cleared
  chat can be answered;
- each bot message carries its stored message id (``metadata.id``): ratings and answers name exactly that message;
- a typed answer counts only for the question under the last bot message shown, and quick replies are Gradio
  options under that message;
- Undo withdraws the undone exchange (its rating and corrections go with it); Retry sends the same message
  again under the same client id, so it is stored once and opens no second ticket;
- Like / Dislike / un-like set the rating to +1 / -1 / none.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

import gradio as gr

from ..core import Bot, InputError
from ..limits import RateLimited, ReplyGate
from ..flow import button_payloads

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


def _message_ref(message: dict) -> tuple[str, int] | None:
    """(nonce, stored message id) of a bot message we rendered, from its metadata; None for anything else."""
    meta = message.get("metadata") or {} if isinstance(message, dict) else {}
    nonce, _, number = str(meta.get("id") or "").partition(":")
    return (nonce, int(number)) if nonce and number.isdigit() else None


def _bot_refs(history: list) -> list[tuple[str, int]]:
    return [ref for m in history if isinstance(m, dict) and m.get("role") == "assistant"
            for ref in [_message_ref(m)] if ref]


def _token(request: gr.Request, nonce: str) -> str:
    # The browser session (a random secret of the page) plus the chat's nonce: another page cannot name it.
    return f"gradio:{request.session_hash}:{nonce}"


def liked_value(liked) -> int:
    """Gradio sends True (Like), False (Dislike) or "" (the pressed one pressed again: no rating)."""
    if liked is True or liked == "Like":
        return 1
    if liked is False or liked == "Dislike":
        return -1
    return 0


def offline_theme() -> gr.themes.Base:
    """System fonts only: the default theme fetches Google Fonts, which an offline or privacy-minded
    deployment must not depend on."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def build_chat(bot: Bot, gate: ReplyGate, title: str = "Tell us how we did") -> gr.Blocks:
    # Button text -> payload, for every button in every language (a Gradio option sends its text as the turn).
    BUTTONS = button_payloads(bot.classifier.labels, bot.config.conversation.languages)

    def respond(message: str, history: list, chat_state: dict | None, request: gr.Request):
        refs = _bot_refs(history)
        # The conversation: the one the chat shows, else the one this page holds (a Retry of the first exchange
        # arrives with an empty history), else a new one (first visit; Clear resets the state).
        nonce = refs[0][0] if refs else (chat_state or {}).get("nonce") or secrets.token_hex(8)
        chat_state = {"nonce": nonce}
        token = _token(request, nonce)
        last = history[-1] if history and isinstance(history[-1], dict) else {}
        pressed = None
        if last.get("role") == "assistant" and any(o.get("value") == message for o in last.get("options") or []):
            pressed = BUTTONS.get(message)      # an option under the last reply: a quick-reply press
        turn = sum(1 for m in history if isinstance(m, dict) and m.get("role") == "user")
        key = f"g{turn}:{hashlib.sha256(message.encode('utf-8', 'surrogatepass')).hexdigest()[:24]}"
        client = request.client.host if request.client else None
        try:
            reply = gate.reply(bot, token, message, "gradio", client, in_reply_to=refs[-1][1] if refs else None,
                               quick_reply=pressed, client_message_id=key,
                               language=request.headers.get("accept-language", "").split(",")[0] or None)
        except (InputError, RateLimited) as exc:
            return f"Sorry — {exc}.", chat_state
        if reply.replayed:      # Retry: the same stored reply, shown afresh with no rating, so none is stored
            bot.rate(token, reply.message_id, 0)
        withdraw_hidden(token, {mid for _, mid in refs} | {reply.message_id})
        out = {"role": "assistant", "content": reply.html, "metadata": {"id": f"{nonce}:{reply.message_id}"}}
        if reply.quick_replies:
            out["options"] = [{"value": q.text, "label": q.text} for q in reply.quick_replies]
        return out, chat_state

    def withdraw_hidden(token: str, shown: set[int]) -> None:
        """Whatever this conversation stored that the chat no longer shows (undo, retry) was taken back."""
        bot.withdraw(token, [m["message_id"] for m in bot.history(token)["messages"] if m["message_id"] not in shown])

    def on_like(data: gr.LikeData, history: list, request: gr.Request) -> None:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        ref = _message_ref(history[index]) if 0 <= index < len(history) else None
        if ref is None:
            raise gr.Error("Sorry, that reply cannot be rated.")
        try:
            bot.rate(_token(request, ref[0]), ref[1], liked_value(data.liked))
        except InputError as exc:
            log.warning("rating refused in a gradio chat: %s", exc)
            raise gr.Error("Sorry, that reply cannot be rated.") from None

    def on_undo(history: list, chat_state: dict | None, request: gr.Request) -> None:
        # Gradio hands this listener the chat as it is after the undo; the conversation is named by the state.
        if chat_state and chat_state.get("nonce"):
            withdraw_hidden(_token(request, chat_state["nonce"]), {mid for _, mid in _bot_refs(history)})

    with gr.Blocks(title=title, analytics_enabled=False) as page:
        # Which conversation this chat is (server-side, per browser session); rendered here, outside the
        # ChatInterface, so it shows no "Additional Inputs" panel.
        chat_state = gr.State(None)
        greeting = bot.greeting(Bot.new_session(), "gradio")   # the bot speaks first (unless configured not to)
        chat = _chat_interface(respond, title, chat_state, greeting["html"] if greeting else None)
        chat.chatbot.like(on_like, [chat.chatbot], None)
        chat.chatbot.undo(on_undo, [chat.chatbot, chat_state], None, queue=False)
        chat.chatbot.clear(lambda: None, None, [chat_state], queue=False)   # Clear: the next message starts anew
    return page


def _chat_interface(respond, title: str, chat_state: gr.State, greeting: str | None) -> gr.ChatInterface:
    return gr.ChatInterface(respond, title=title, examples=[[text, None] for text in EXAMPLES], run_examples_on_click=True,
                            additional_inputs=[chat_state], additional_outputs=[chat_state],
                            description="Your messages are stored so we can improve. Rate any reply with thumbs up or down.",
                            chatbot=gr.Chatbot(value=[{"role": "assistant", "content": greeting}] if greeting else None,
                                               height=420, feedback_options=("Like", "Dislike"), sanitize_html=True,
                                               render_markdown=False),
                            # Gradio's default queue runs one chat turn at a time. Allowing as many as the reply
                            # gate (4) measured slower on 2 cores (bench/load.py: 4.8 vs 5.9 msg/s), so it stays.
                            api_name="chat", analytics_enabled=False)
