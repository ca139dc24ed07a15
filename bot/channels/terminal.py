"""Command-line bot session: `feedbackbot chat`."""

from __future__ import annotations

import sys

from ..core import Bot, InputError
from ..store import StoreError

HELP = ("Type your feedback and press Enter; when the bot offers numbered choices, type the number. Commands: "
        "/good, /bad or /unrate set the last reply's rating, /correct LABEL records what you meant, "
        "/history lists your messages, /help, /quit.")
RATINGS = {"/good": 1, "/bad": -1, "/unrate": 0}


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
    choices = []            # the quick replies offered with the last reply
    sent: list[str] = []

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    say(f"feedbackbot ({bot.classifier.version}) — {HELP}")
    greeting = bot.greeting(session, "cli")
    if greeting:
        say(f"bot> {greeting['text']}")
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
        if command in RATINGS or command.startswith("/correct"):
            if last_id is None:
                say("! nothing to rate or correct yet")
                continue
            try:
                if command.startswith("/correct"):
                    bot.correct(session, last_id, line.split(maxsplit=1)[1].strip() if " " in line.strip() else "")
                    say("(correction saved, thank you)")
                else:
                    bot.rate(session, last_id, RATINGS[command])
                    say("(rating saved, thank you)" if RATINGS[command] else "(rating removed)")
            except (InputError, StoreError) as exc:
                say(f"! {exc}")
            continue
        pressed = None
        if choices and command.isdigit() and 1 <= int(command) <= len(choices):
            pressed = choices[int(command) - 1]
        try:
            reply = bot.reply(session, pressed.text if pressed else line, channel="cli", in_reply_to=last_id,
                              quick_reply=pressed.payload if pressed else None)
        except InputError as exc:
            say(f"! {exc}")
            continue
        last_id, choices = reply.message_id, reply.quick_replies
        sent.append(pressed.text if pressed else line)
        say(f"bot> {reply.text}")
        if choices:
            say("     " + "   ".join(f"[{i}] {q.text}" for i, q in enumerate(choices, start=1)))
        note = f"; recorded message {reply.correction[0]} as {reply.correction[1]}" if reply.correction else ""
        if reply.prediction is None:
            say(f"     [{'your answer' if reply.kind == 'answer' else reply.kind}; reply: {reply.template}{note}]")
            continue
        model = f"{reply.prediction.label} {reply.prediction.confidence:.0%}" if reply.prediction else "unavailable"
        say(f"     [model: {model}; reply: {reply.template}{note}]")
    say("bye")
    return 0
