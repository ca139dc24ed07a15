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

What the customer sees (issue 14): the page is our own header (business name, privacy line) over a chat that fills
the window; the customer's words are shown as text (never as HTML or markdown); links in our replies are links;
a message that cannot be sent (empty, too long, too fast) is refused with a notice under the box, and the text
stays there to edit: no bot turn is made of an error.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import secrets

import gradio as gr

from ..core import Bot, InputError, clean_text
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
    deployment must not depend on. Text colours are set for WCAG AA contrast (4.5:1) in light and dark."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"]).set(
        input_placeholder_color="#4b5563", input_placeholder_color_dark="#a1a1aa",
        body_text_color_subdued="#4b5563", body_text_color_subdued_dark="#a1a1aa",
        block_info_text_color="#4b5563", block_info_text_color_dark="#a1a1aa")


URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


def linkify(escaped_html: str) -> str:
    """Make the http(s) links in an HTML-escaped reply real links (the review URL, ...)."""
    def link(m: re.Match) -> str:
        url = m.group(0)
        return f'<a href="{url}" target="_blank" rel="noopener noreferrer">{url}</a>'
    return URL.sub(link, escaped_html)


def _map_user(value, fn):
    """Apply ``fn`` to the text of the customer's messages in a chat value; the bot's messages are left alone."""
    if not isinstance(value, list):
        return value
    out = []
    for m in value:
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                m = {**m, "content": fn(content)}
            elif isinstance(content, list):
                m = {**m, "content": [{**c, "text": fn(c["text"])} if isinstance(c, dict) and c.get("type") == "text"
                                      and isinstance(c.get("text"), str) else c for c in content]}
        out.append(m)
    return out


def text_chatbot(**kwargs) -> gr.Chatbot:
    """A gr.Chatbot that shows the customer's own messages as text: escaped on the way to the page, unescaped on
    the way back (Retry sends the words the customer typed, not their escaped form). Bot messages are our HTML
    (escaped text plus links), sanitised by Gradio as before. (Wrapped on the instance: a gr.Chatbot subclass
    would make Gradio write a .pyi file next to this module.)"""
    chatbot = gr.Chatbot(**kwargs)
    post, pre = chatbot.postprocess, chatbot.preprocess
    chatbot.postprocess = lambda value: post(_map_user(value, lambda t: html.escape(t, quote=False)))
    chatbot.preprocess = lambda payload: _map_user(pre(payload), html.unescape)
    return chatbot


def chat_css() -> str:
    return CSS


CSS = """
.fb-header { padding: 4px 0 0; }
.fb-header h1 { font-size: 1.4rem; margin: 0 0 2px; }
.fb-header p { margin: 0; font-size: .9rem; color: var(--body-text-color-subdued); }
.fb-header a { color: var(--link-text-color); }
footer { display: none !important; }
@media (max-width: 480px) { .fb-header h1 { font-size: 1.15rem; } .fb-header p { font-size: .8rem; } }
"""

# After Enter or Send, Gradio disables the box until the reply is in and focus falls to the page: give it back,
# unless the customer has moved on to something else meanwhile.
FOCUS_JS = """
() => {
  let again = false;
  const box = () => document.querySelector('#fb-input textarea');
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && e.target === box()) again = true;
  }, true);
  document.addEventListener('click', (e) => { if (e.target.closest && e.target.closest('#fb-input button')) again = true; }, true);
  document.addEventListener('focusin', (e) => { if (e.target !== box() && e.target !== document.body) again = false; });
  const refocus = () => {
    const b = box();
    if (again && b && !b.disabled && (!document.activeElement || document.activeElement === document.body)) {
      b.focus();
    }
  };
  // Either order: the box may be re-enabled before or after focus falls to the page.
  document.addEventListener('focusout', (e) => { if (e.target === box() && !e.relatedTarget) setTimeout(refocus, 0); });
  new MutationObserver(refocus).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['disabled']});
}
"""


def friendly_wait(seconds: float) -> str:
    wait = max(1, round(seconds))
    return (f"You're sending messages faster than we can read them. Please wait {wait} second"
            f"{'s' if wait != 1 else ''} and send again: your text is still here.")


def build_chat(bot: Bot, gate: ReplyGate, title: str = "Tell us how we did") -> gr.Blocks:
    max_chars = bot.config.limits.max_message_chars

    def limit_key(request: gr.Request) -> str:
        return f"gradio:{request.session_hash}"     # the page: Clear starts a conversation, not a new allowance

    def validate(message: str, request: gr.Request):
        """Runs before the box is cleared: a refused message stays in the box, with the reason under it."""
        try:
            clean_text(message, max_chars)
        except InputError as exc:
            if exc.code == "too_long":
                return gr.validate(False, f"Your message is {len(message):,} characters long; the limit is "
                                          f"{max_chars:,}. Please shorten it: your text is still here.")
            if exc.code == "empty":
                return gr.validate(False, "Please type a message first.")
            return gr.validate(False, f"This message can't be sent: {exc}.")
        wait = gate.wait_s(request.client.host if request.client else None, limit_key(request))
        if wait > 0:
            return gr.validate(False, friendly_wait(wait))
        return gr.validate(True, "")

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
            reply = gate.reply(bot, token, message, "gradio", client, limit_key=limit_key(request),
                               in_reply_to=refs[-1][1] if refs else None, quick_reply=pressed, client_message_id=key,
                               language=request.headers.get("accept-language", "").split(",")[0] or None)
        except RateLimited as exc:      # a notice, never a bot turn (the box's validator catches the usual case)
            raise gr.Error(friendly_wait(exc.retry_after), title="Message not sent", print_exception=False) from None
        except InputError as exc:
            raise gr.Error(f"{exc}.", title="Message not sent", print_exception=False) from None
        if reply.replayed:      # Retry: the same stored reply, shown afresh with no rating, so none is stored
            bot.rate(token, reply.message_id, 0)
        bot.withdraw_hidden(token, {mid for _, mid in refs} | {reply.message_id})
        out = {"role": "assistant", "content": linkify(reply.html),
               "metadata": {"id": f"{nonce}:{reply.message_id}"}}
        if reply.quick_replies:
            out["options"] = [{"value": q.text, "label": q.text} for q in reply.quick_replies]
        return out, chat_state

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
            bot.withdraw_hidden(_token(request, chat_state["nonce"]), {mid for _, mid in _bot_refs(history)})

    business = bot.config.templates.name     # empty = unset: the page names nobody
    heading = f"Feedback for {business}" if business else "Your feedback"
    with gr.Blocks(title=f"{title} · {business}" if business else title, analytics_enabled=False,
                   fill_height=True) as page:
        gr.HTML(f'<header class="fb-header"><h1>{html.escape(heading)}</h1>'
                "<p>Tell us how we did. Your messages and ratings are stored to improve our service; please "
                "don't share card numbers or passwords. Rate any reply with thumbs up or down.</p></header>",
                padding=False)
        # Which conversation this chat is (server-side, per browser session); rendered here, outside the
        # ChatInterface, so it shows no "Additional Inputs" panel.
        chat_state = gr.State(None)
        greeting = bot.greeting(Bot.new_session(), "gradio")   # the bot speaks first (unless configured not to)
        chat = _chat_interface(respond, chat_state, validate, max_chars, greeting["html"] if greeting else None)
        chat.chatbot.like(on_like, [chat.chatbot], None)
        chat.chatbot.undo(on_undo, [chat.chatbot, chat_state], None, queue=False)
        chat.chatbot.clear(lambda: None, None, [chat_state], queue=False)   # Clear: the next message starts anew
    return page


def _chat_interface(respond, chat_state: gr.State, validate, max_chars: int,
                    greeting: str | None) -> gr.ChatInterface:
    return gr.ChatInterface(respond, examples=[[text, None] for text in EXAMPLES], run_examples_on_click=True,
                            additional_inputs=[chat_state], additional_outputs=[chat_state], validator=validate,
                            chatbot=text_chatbot(value=[{"role": "assistant", "content": greeting}] if greeting else None,
                                                 label="Conversation", show_label=False, height="100%", scale=1,
                                                min_height=240, feedback_options=("Like", "Dislike"),
                                                sanitize_html=True, render_markdown=False, buttons=[]),
                            textbox=gr.Textbox(label="Your message", show_label=False, elem_id="fb-input",
                                               placeholder=f"Type your message (up to {max_chars:,} characters)…",
                                               submit_btn="Send", stop_btn=False, autofocus=True, lines=1,
                                               max_lines=6, scale=7),
                            submit_btn="Send", stop_btn=False, fill_height=True,
                            # Gradio's default queue runs one chat turn at a time. Allowing as many as the reply
                            # gate (4) measured slower on 2 cores (bench/load.py: 4.8 vs 5.9 msg/s), so it stays.
                            api_name="chat", analytics_enabled=False)
