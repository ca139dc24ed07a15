"""Command-line bot session: `feedbackbot chat`."""

from __future__ import annotations

import sys

from ..core import Bot, InputError
from ..store import StoreError

HELP = ("Type your feedback and press Enter. Commands: /good or /bad rate the last reply, "
        "/correct LABEL records what you meant, /history lists your messages, /help, /quit.")


def read_line(stdin, stdout, prompt: str = "you> ") -> str:
    """One line from the terminal, decoded strictly as UTF-8 (UnicodeDecodeError if it is not).

    Raw bytes, not input(): GNU readline silently drops bytes that are not valid UTF-8, so what the customer
    typed could be stored altered. The price is no arrow-key line editing; `/history` lists the session.
    """
    stdout.write(prompt)
    stdout.flush()
    raw = stdin.buffer.readline() if hasattr(stdin, "buffer") else stdin.readline().encode("utf-8")
    if not raw:
        raise EOFError
    for ending in (b"\n", b"\r"):
        raw = raw.removesuffix(ending)
    return raw.decode("utf-8")


def run_chat(bot: Bot, stdin=None, stdout=None) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    session = bot.new_session()
    last_id = None
    sent: list[str] = []

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    say(f"feedbackbot ({bot.classifier.version}) — {HELP}")
    while True:
        try:
            line = read_line(stdin, stdout)
        except (EOFError, KeyboardInterrupt):
            say("")
            break
        except UnicodeDecodeError:
            say("! that line is not valid UTF-8 text; nothing was stored")
            continue
        command = line.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            break
        if command == "/help":
            say(HELP)
            continue
        if command == "/history":
            for i, text in enumerate(sent, start=1):
                say(f"  {i}. {text}")
            continue
        if command in ("/good", "/bad") or command.startswith("/correct"):
            if last_id is None:
                say("! nothing to rate or correct yet")
                continue
            try:
                if command.startswith("/correct"):
                    bot.correct(last_id, line.split(maxsplit=1)[1].strip() if " " in line.strip() else "")
                    say("(correction saved, thank you)")
                else:
                    bot.rate(last_id, 1 if command == "/good" else -1)
                    say("(rating saved, thank you)")
            except (InputError, StoreError) as exc:
                say(f"! {exc}")
            continue
        try:
            reply = bot.reply(session, line, channel="cli")
        except InputError as exc:
            say(f"! {exc}")
            continue
        last_id = reply.message_id
        sent.append(line)
        say(f"bot> {reply.text}")
        note = f"; recorded message {reply.correction[0]} as {reply.correction[1]}" if reply.correction else ""
        model = f"{reply.prediction.label} {reply.prediction.confidence:.0%}" if reply.prediction else "unavailable"
        say(f"     [model: {model}; reply: {reply.template}{note}]")
    say("bye")
    return 0
