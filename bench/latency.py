"""CPU speed of the bot vs the plain Hugging Face pipeline on the same merged model, in one run.

    feedbackbot data prepare          # once: realistic customer messages (airline tweets)
    python bench/latency.py [--model default] [--messages 500]

Measures (writes bench/results/latency.json and latency.md):
- single-message latency p50/p95/p99 of Bot.reply() (classify + policy + render + SQLite store) and of
  `transformers.pipeline("text-classification")` on the same texts (classification only);
- batch throughput (messages/s) at batch 1, 8, 32, 128 for our Classifier and for the pipeline;
- cold start (process start -> first reply) and peak RSS of a process that only runs the bot.
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import percentile, write_results  # noqa: E402

COLD_START = """
import time, resource, sys
t0 = float(sys.argv[1])
from bot.config import BotConfig
from bot.core import Bot
cfg = BotConfig(); cfg.model.path = sys.argv[2]; cfg.db.url = sys.argv[3]
bot = Bot.from_config(cfg, log_fn=lambda *_: None)
bot.reply("cold", "the delivery was late again")
print(time.time() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def load_messages(n: int, seed: int = 0) -> list[str]:
    from finetune.paths import cache_root

    path = cache_root() / "datasets" / "airline_tweets.csv"
    if not path.is_file():
        raise SystemExit(f"{path} missing: run `feedbackbot data prepare` first")
    with open(path, encoding="utf-8", newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    random.Random(seed).shuffle(texts)
    return texts[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--batch-sizes", default="1,8,32,128")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    import torch
    from transformers import pipeline

    from bot.classifier import Classifier
    from bot.config import BotConfig
    from bot.core import Bot
    from bot.model_source import resolve_model_dir

    model_dir = resolve_model_dir(args.model, log=lambda *_: None)
    texts = load_messages(args.messages)
    workdir = Path(tempfile.mkdtemp(prefix="feedbackbot-latency-"))

    # cold start and peak RSS in a fresh process that only runs the bot
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", COLD_START, str(t0), str(model_dir), f"sqlite:///{workdir / 'cold.db'}"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    cold_s, rss_mb = map(float, out.stdout.strip().splitlines()[-1].split())

    cfg = BotConfig()
    cfg.model.path = str(model_dir)
    cfg.db.url = f"sqlite:///{workdir / 'bench.db'}"
    bot = Bot.from_config(cfg, log_fn=lambda *_: None)
    pipe = pipeline("text-classification", model=str(model_dir), device=-1)
    for t in texts[:20]:                                   # warm both
        bot.reply("warm", t)
        pipe(t)

    bot_ms, pipe_ms = [], []
    for i, text in enumerate(texts):
        started = time.perf_counter()
        bot.reply(f"s{i // 5}", text)
        bot_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        pipe(text)
        pipe_ms.append((time.perf_counter() - started) * 1000)

    clf = Classifier(model_dir, max_length=cfg.model.max_length, threads=cfg.model.threads)
    throughput = {}
    for size in [int(b) for b in args.batch_sizes.split(",")]:
        clf.batch_size = size
        started = time.perf_counter()
        for i in range(0, len(texts), size):
            clf.predict(texts[i:i + size])
        ours = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        pipe(texts, batch_size=size)
        theirs = len(texts) / (time.perf_counter() - started)
        throughput[size] = {"feedbackbot": ours, "hf_pipeline": theirs, "ratio": ours / theirs}

    def summary(ms):
        return {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95), "p99": percentile(ms, 0.99),
                "mean": sum(ms) / len(ms)}

    report = {"model": str(model_dir), "messages": len(texts),
              "machine": {"platform": platform.platform(), "torch": torch.__version__,
                          "threads": torch.get_num_threads()},
              "bot_reply_ms": summary(bot_ms), "hf_pipeline_ms": summary(pipe_ms),
              "p50_speedup": percentile(pipe_ms, 0.5) / percentile(bot_ms, 0.5),
              "throughput_msg_per_s": throughput, "cold_start_s": cold_s, "bot_process_peak_rss_mb": rss_mb}
    b, p = report["bot_reply_ms"], report["hf_pipeline_ms"]
    rows = "\n".join(f"| {size} | {v['feedbackbot']:.1f} | {v['hf_pipeline']:.1f} | {v['ratio']:.2f}x |"
                     for size, v in throughput.items())
    markdown = (
        f"# CPU speed: feedbackbot vs transformers.pipeline (same merged model)\n\n`python bench/latency.py "
        f"--messages {len(texts)}` — {torch.get_num_threads()} torch threads\n\n"
        f"| single message, ms | p50 | p95 | p99 |\n|---|---|---|---|\n"
        f"| Bot.reply() (classify + policy + render + store) | {b['p50']:.1f} | {b['p95']:.1f} | {b['p99']:.1f} |\n"
        f"| HF pipeline (classify only) | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} |\n\n"
        f"| batch | feedbackbot msg/s | HF pipeline msg/s | ratio |\n|---|---|---|---|\n{rows}\n\n"
        f"Cold start (process start -> first reply): {cold_s:.1f} s; bot process peak RSS {rss_mb:.0f} MB.\n")
    write_results(args.out, "latency", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
