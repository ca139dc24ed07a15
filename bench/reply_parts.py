"""Where one Bot.reply() spends its time, part by part, with wall-clock timers (no profiler).

    feedbackbot data prepare          # once: realistic customer messages (airline tweets)
    python bench/reply_parts.py [--model default] [--backend onnx-int8] [--messages 300]

Wraps each part the turn composes (the store's state read, language detection, the message-kind detector, the model
through the micro-batcher, template rendering, the store's durable write of the turn) with a perf_counter timer and
answers the messages as conversations of five, as bench/latency.py does. A profiler inflates pure-Python parts
several-fold (cProfile read the kind detector at 1.3 ms where a wall timer reads 0.8), so the split comes from here.
Writes bench/results/reply_parts.{json,md}.
"""

from __future__ import annotations

import argparse
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
    for i, text in enumerate(texts[:20]):               # warm up: ONNX threads, caches, the store's first pages
        bot.reply(f"warm{i // 5}", text)
    for values in ms.values():     # in place: the timers hold these lists
        values.clear()
    for i, text in enumerate(texts):
        started = time.perf_counter()
        bot.reply(f"s{i // 5}", text)
        ms["Bot.reply() (the whole turn)"].append((time.perf_counter() - started) * 1000)

    def row(values):
        return {"n": len(values), "p50": percentile(values, 0.5), "mean": sum(values) / len(values)}

    report = {"model": bot.classifier.version, "backend": args.backend, "messages": len(texts),
              "cpu": platform.processor() or platform.machine(), "parts": {k: row(v) for k, v in ms.items()}}
    whole = report["parts"].pop("Bot.reply() (the whole turn)")
    lines = [f"# Where a reply's time goes: `{report['model']}` on `{args.backend}`", "",
             f"`python bench/reply_parts.py --messages {args.messages}`: {len(texts)} airline tweets in "
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
    print(write_results(args.out, "reply_parts", report, "\n".join(lines) + "\n").read_text())


if __name__ == "__main__":
    main()
