"""Is a candidate's lead on validation more than chance? A paired bootstrap of the selection score.

    python bench/compare_candidates.py --candidate DIR [--baseline default] [--imdb-limit 1000] [--limit 1000]

Models are chosen on the selection score of ``bench/accuracy.py --part validation``: the plain mean of the eleven
sets' primary metrics and the behaviour validation suite's two parts. Leads between candidates have been a few
thousandths. This script reads both models on the very same validation messages, then resamples the messages of
every part with replacement, the same draw for both models (a paired bootstrap; 1,000 rounds, seeded), and
recomputes the difference of the two selection scores each round. The 95% interval of that difference says whether
the lead would survive another sample of the same size: a lead whose interval includes 0 is a tie.
It does not count the retrain: the same recipe trained again with another seed moved the score by -0.0038 and the
English behaviour part by -0.045 (README, "A retrain alone, and a soup of two seeds"), so a lead under about 0.01
is read as a tie even where its interval excludes 0.

Each model's per-message predictions are kept in ``<out>/validation-predictions-<name>.json`` and reused, so a
model is read once. Writes ``compare-<candidate>-vs-<baseline>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import (SETS, THREE, VALIDATION_SUITE, encoded, english_and_other, load_set,  # noqa: E402
                      model_name, primary_metric, served_classifier)
from benchkit import write_results  # noqa: E402

SUITE_PARTS = ("behaviour_en", "behaviour_other")


def read_model(spec: str, backend: str, imdb_limit: int | None, limit: int | None,
               only: tuple[str, ...] | None = None) -> dict:
    """{"version", "parts": {name: {"classes", "y", "pred"}}} on every validation part (or those named in ``only``),
    as bench/accuracy.py reads them. The suite's parts are stored as correct (1) / wrong (0) against a truth of all
    ones, so their score is their accuracy."""
    from bot.model_source import resolve_model_dir
    from finetune.behaviour import load_suite
    from finetune.paths import cache_root

    clf = served_classifier(resolve_model_dir(spec), backend)
    if clf.labels != THREE:
        raise SystemExit(f"this bench reads a 3-class model ({THREE}); {spec} has {clf.labels}")
    parts = {}
    for s in SETS:
        if only is not None and s.name not in only:
            continue
        texts, truth = load_set(s, cache_root() / "datasets", imdb_limit, limit, part="validation")
        y, pred = encoded(s.classes, truth, clf.probabilities(clf.logits(texts)), clf.labels)
        parts[s.name] = {"classes": s.classes, "y": [int(v) for v in y], "pred": [int(v) for v in pred]}
        print(f"{spec}: {s.name} read ({len(texts)})", flush=True)
    for part, chosen in zip(SUITE_PARTS, english_and_other(load_suite(VALIDATION_SUITE))):
        if only is not None and part not in only:
            continue
        got = [p.label for p in clf.predict([c.text for c in chosen])]
        parts[part] = {"classes": 2, "y": [1] * len(chosen), "pred": [int(g == c.label) for c, g in zip(chosen, got)]}
    return {"version": clf.version, "parts": parts}


def paired_difference(candidate: dict, baseline: dict, rounds: int = 1000, seed: int = 0) -> dict:
    """The candidate's selection score minus the baseline's, and its paired-bootstrap 95% interval."""
    names = list(baseline)
    if set(candidate) != set(names):
        raise ValueError("the two models were read on different parts")
    arrays = {}
    for name in names:
        a, b = candidate[name], baseline[name]
        if a["y"] != b["y"]:
            raise ValueError(f"{name}: the two models were read on different messages")
        arrays[name] = (np.asarray(a["y"]), np.asarray(a["pred"]), np.asarray(b["pred"]), a["classes"])
    per_part = {name: primary_metric(y, pa, k) - primary_metric(y, pb, k) for name, (y, pa, pb, k) in arrays.items()}
    rng = np.random.default_rng(seed)
    draws = np.zeros(rounds)
    for r in range(rounds):
        total = 0.0
        for y, pa, pb, k in arrays.values():
            i = rng.integers(0, len(y), len(y))
            total += primary_metric(y[i], pa[i], k) - primary_metric(y[i], pb[i], k)
        draws[r] = total / len(arrays)
    low, high = np.quantile(draws, [0.025, 0.975])
    return {"difference": float(np.mean(list(per_part.values()))), "interval": [float(low), float(high)],
            "share_of_rounds_ahead": float((draws > 0).mean()), "per_part": per_part, "rounds": rounds}


def _cached(spec: str, args) -> dict:
    """The model's kept predictions when they were read from this very model (its version: a new default under the
    same name "default" is read again) with the same limits and backend; else a fresh read, kept."""
    from bot.classifier import model_version
    from bot.model_source import resolve_model_dir

    name = model_name(spec)
    path = args.out / f"validation-predictions-{name}.json"
    if path.is_file():
        kept = json.loads(path.read_text())
        same_read = (kept.get("imdb_limit"), kept.get("limit"), kept.get("backend")) == \
            (args.imdb_limit, args.limit, args.backend)
        if same_read and kept.get("version") == model_version(resolve_model_dir(spec)):
            return kept
    read = {**read_model(spec, args.backend, args.imdb_limit or None, args.limit),
            "imdb_limit": args.imdb_limit, "limit": args.limit, "backend": args.backend, "name": name}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(read))
    return read


def add_reading_options(ap: argparse.ArgumentParser) -> None:
    """How models are read (what ``_cached`` keys its kept predictions on), the bootstrap's rounds and where the
    results go: shared by every script that compares models on validation."""
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--imdb-limit", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")


def interval_verdict(interval: list[float]) -> str:
    """What a paired-bootstrap interval of a difference says."""
    low, high = interval
    return ("ahead beyond chance" if low > 0 else "behind beyond chance" if high < 0
            else "a tie: the interval includes 0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--baseline", default="default")
    add_reading_options(ap)
    args = ap.parse_args()
    cand, base = _cached(args.candidate, args), _cached(args.baseline, args)
    result = paired_difference(cand["parts"], base["parts"], args.rounds)
    low, high = result["interval"]
    verdict = interval_verdict(result["interval"])
    report = {"candidate": cand["version"], "baseline": base["version"], **result, "verdict": verdict,
              "command": " ".join(["python bench/compare_candidates.py", *sys.argv[1:]])}
    rows = "\n".join(f"| {name} | {d:+.3f} |" for name, d in result["per_part"].items())
    markdown = (f"# Candidate vs baseline on validation: `{cand['version']}` vs `{base['version']}`\n\n"
                f"`{report['command']}`: a paired bootstrap ({args.rounds} rounds, seeded) of the selection score's "
                "difference, every part resampled with the same draw for both models.\n\n"
                f"Selection score difference (candidate - baseline): **{result['difference']:+.4f}**, 95% interval "
                f"{low:+.4f} to {high:+.4f}; the candidate is ahead in {result['share_of_rounds_ahead']:.0%} of the "
                f"rounds. Verdict: **{verdict}**. The interval counts the validation sample, not the retrain: the same "
                "recipe trained with another seed moves the score too (README, \"A retrain alone, and a soup of two "
                f"seeds\").\n\n| part | difference |\n|---|---|\n{rows}\n")
    write_results(args.out, f"compare-{cand['name']}-vs-{base['name']}", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
