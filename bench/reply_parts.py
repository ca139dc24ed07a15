"""Where one Bot.reply() spends its time, part by part, with wall-clock timers (no profiler).

    feedbackbot data prepare          # once: realistic customer messages (airline tweets)
    python bench/reply_parts.py [--model default] [--backend onnx-int8] [--messages 300]

Wraps each part the turn composes (the store's state read, language detection, the message-kind detector, the model
through the micro-batcher, template rendering, the store's durable write of the turn) with a perf_counter timer and
answers the messages as conversations of five, as bench/latency.py does. A profiler inflates pure-Python parts
several-fold (cProfile read the kind detector at 1.3 ms where a wall timer reads 0.8), so the split comes from here.

Then the store's write on its own: the very turns just written, written again back to back into new conversations
(no model pass in between), and the disk's own fsync (4 KB written and synced in the store's directory): what of
the in-turn write is durability and what is running on caches a model pass has just filled with its weights.
Last, the model's cost by message length: one forward pass of the served backend on 8 to 64 tokens of real text,
next to the token lengths of the messages answered.
Writes bench/results/reply_parts.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import percentile, write_results  # noqa: E402
from latency import load_messages  # noqa: E402

# (object attribute on the bot, method, the row's name); detect_language is a module function of bot.core
PARTS = (("store", "state", "store: read the conversation's state"),
         ("kinds", "detect", "message kind"),
         ("batcher", "predict", "model (micro-batcher, onnx)"),
         ("renderer", "render", "template"),
         ("store", "record_turn", "store: write the turn and commit"))


def timed(fn, bucket: list[float]):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            bucket.append((time.perf_counter() - started) * 1000)
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    from bot import core
    from bot.config import BotConfig
    from bot.core import Bot
    from bot.model_source import resolve_model_dir

    texts = load_messages(args.messages)
    cfg = BotConfig()
    cfg.model.path = str(resolve_model_dir(args.model, log=lambda *_: None))
    cfg.model.backend = args.backend
    cfg.db.url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='feedbackbot-parts-')) / 'parts.db'}"
    bot = Bot.from_config(cfg, log_fn=lambda *_: None)
    ms: dict[str, list[float]] = defaultdict(list)
    for owner, method, name in PARTS:
        target = getattr(bot, owner)
        if target is None:
            raise SystemExit(f"this bot has no {owner}: the bench times the served path, which has one")
        setattr(target, method, timed(getattr(target, method), ms[name]))
    core.detect_language = timed(core.detect_language, ms["language"])
    turns = []
    write = bot.store.record_turn          # the timed wrapper; it also keeps each turn for the replay below
    bot.store.record_turn = lambda turn: (turns.append(turn), write(turn))[1]
    for i, text in enumerate(texts[:20]):               # warm up: ONNX threads, caches, the store's first pages
        bot.reply(f"warm{i // 5}", text)
    for values in ms.values():     # in place: the timers hold these lists
        values.clear()
    for i, text in enumerate(texts):
        started = time.perf_counter()
        bot.reply(f"s{i // 5}", text)
        ms["Bot.reply() (the whole turn)"].append((time.perf_counter() - started) * 1000)

    by_length = model_by_length(bot.classifier, texts)
    alone = store_write_alone(bot.store, turns[-len(texts):], Path(cfg.db.url.removeprefix("sqlite:///")).parent)

    def row(values):
        return {"n": len(values), "p50": percentile(values, 0.5), "mean": sum(values) / len(values)}

    report = {"model": bot.classifier.version, "backend": args.backend, "messages": len(texts),
              "command": " ".join(["python bench/reply_parts.py", *sys.argv[1:]]),
              "cpu": platform.processor() or platform.machine(), "parts": {k: row(v) for k, v in ms.items()}}
    whole = report["parts"].pop("Bot.reply() (the whole turn)")
    lines = [f"# Where a reply's time goes: `{report['model']}` on `{args.backend}`", "",
             f"`{report['command']}`: {len(texts)} airline tweets in "
             "conversations of five, wall-clock timers around each part (no profiler). The model row covers only "
             "the messages read as feedback (a greeting or a question is never classified).", "",
             "| part | calls | p50 ms | mean ms |", "|---|---|---|---|"]
    for name, r in report["parts"].items():
        lines.append(f"| {name} | {r['n']} | {r['p50']:.2f} | {r['mean']:.2f} |")
    # per turn: a part's total over the run / turns (the model is not called on every turn)
    per_turn = {name: sum(ms[name]) / len(texts) for name in report["parts"]}
    report["rest_mean_per_turn"] = whole["mean"] - sum(per_turn.values())
    lines.append(f"| the rest: policy, a contrast's clauses, Python glue (mean per turn) | | | "
                 f"{report['rest_mean_per_turn']:.2f} |")
    lines.append(f"| **Bot.reply() (the whole turn)** | {whole['n']} | **{whole['p50']:.2f}** | {whole['mean']:.2f} |")
    report["whole"] = whole
    report["per_turn_mean"] = per_turn
    report["store_write_alone"] = {name: row(values) for name, values in alone.items()}
    in_turn = report["parts"]["store: write the turn and commit"]["p50"]
    lines += ["", "The store's write on its own (the same turns again, back to back, no model pass between them):", "",
              "| write | n | p50 ms | mean ms |", "|---|---|---|---|",
              f"| in the turn (above) | | {in_turn:.2f} | |"]
    lines += [f"| {name} | {r['n']} | {r['p50']:.2f} | {r['mean']:.2f} |"
              for name, r in report["store_write_alone"].items()]
    report["model_by_length"] = by_length
    q = by_length["message_tokens"]
    lines += ["", f"The model's cost by length (one message, {by_length['runs']} passes each, no near-tie re-check; "
              f"the messages above are {q['p25']}/{q['p50']}/{q['p75']} tokens at p25/p50/p75):", "",
              "| tokens | " + " | ".join(str(n) for n in by_length["p50_ms"]) + " |",
              "|---|" + "---|" * len(by_length["p50_ms"]),
              "| model p50 ms | " + " | ".join(f"{v:.2f}" for v in by_length["p50_ms"].values()) + " |"]
    print(write_results(args.out, "reply_parts", report, "\n".join(lines) + "\n").read_text())


def model_by_length(classifier, texts: list[str], lengths=(8, 16, 24, 32, 48, 64), runs: int = 60) -> dict:
    """p50 ms of one forward pass of the served backend per token count (the ids of real messages, cut or
    repeated to length; without the int8 backend's near-tie re-check, which would add a float pass to an input
    that happens to be a tie), and the token lengths of ``texts``."""
    from bot.token_ids import padded

    ids = [i for row in classifier.token_ids(texts[:50], classifier.max_length) for i in row[1:-1]]
    backend = classifier.backend
    margin = getattr(backend, "recheck_margin", 0.0)
    out = {}
    try:
        backend.recheck_margin = 0.0
        for n in lengths:
            inputs = padded([(ids * (n // len(ids) + 1))[:n]], classifier.token_ids.pad_id)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                backend(inputs)
                times.append((time.perf_counter() - started) * 1000)
            out[n] = percentile(times, 0.5)
    finally:
        backend.recheck_margin = margin
    counts = [len(row) for row in classifier.token_ids(texts, classifier.max_length)]
    return {"runs": runs, "p50_ms": out,
            "message_tokens": {f"p{q}": percentile(counts, q / 100) for q in (25, 50, 75)}}


def store_write_alone(store, turns: list, folder: Path, syncs: int = 300) -> dict[str, list[float]]:
    """``turns`` written again, back to back, into new conversations (tickets left out: their ids are unique), and
    ``syncs`` fsyncs of a 4 KB write in ``folder`` (the store's disk)."""
    write = type(store).record_turn       # the class's own method: the instance's is wrapped by the timers
    out: dict[str, list[float]] = {"the same turns, back to back": [], "the disk's fsync of 4 KB": []}
    for turn in turns:
        again = dataclasses.replace(turn, conversation_id=f"again-{turn.conversation_id}", ticket=None,
                                    ticket_is_new=False, contact=None, client_message_id=None)
        started = time.perf_counter()
        write(store, again)
        out["the same turns, back to back"].append((time.perf_counter() - started) * 1000)
    path = folder / "fsync-probe.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(syncs):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            out["the disk's fsync of 4 KB"].append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return out


if __name__ == "__main__":
    main()
