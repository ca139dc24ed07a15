"""Command-line bot session: `feedbackbot chat`."""

from __future__ import annotations

import sys

from ..core import Bot, InputError
from ..store import StoreError

HELP = ("Type your feedback and press Enter. Commands: /good or /bad rate the last reply, "
        "/correct LABEL records what you meant, /help, /quit.")


def run_chat(bot: Bot, stdin=None, stdout=None) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    if stdin.isatty():
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
    session = bot.new_session()
    last_id = None

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    say(f"feedbackbot ({bot.classifier.version}) — {HELP}")
    while True:
        try:
            if stdin is sys.stdin:
                line = input("you> ")
            else:
                stdout.write("you> ")
                stdout.flush()
                line = stdin.readline()
                if not line:
                    raise EOFError
                line = line.rstrip("\n")
        except (EOFError, KeyboardInterrupt):
            say("")
            break
        command = line.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            break
        if command == "/help":
            say(HELP)
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
        say(f"bot> {reply.text}")
        note = f"; recorded message {reply.correction[0]} as {reply.correction[1]}" if reply.correction else ""
        model = f"{reply.prediction.label} {reply.prediction.confidence:.0%}" if reply.prediction else "unavailable"
        say(f"     [model: {model}; reply: {reply.template}{note}]")
    say("bye")
    return 0
