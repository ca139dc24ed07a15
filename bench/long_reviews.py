"""How a long message's windows are combined: aggregation rules and window lengths, on IMDb *validation* reviews.

    python bench/long_reviews.py [--model default] [--backend onnx-int8] [--limit 2000] [--window 128 256]

The bot reads a message longer than ``[model] max_length`` tokens in overlapping windows (up to ``max_chunks``) and
serves the token-weighted mean of their logits (bot/classifier.py). This compares that rule with the alternatives
one would try (all windows instead of the first 8, a plain or probability mean, the first window only, the last
window weighted up since reviews often end on their verdict, the first 7 windows plus the last) and with longer
windows, on the seeded validation split of IMDb (long reviews; no recipe's mix draws from it, and no reported test
number comes from it, so choosing here reads no test data). Each window's logits are computed once per window length;
the rules are applied to them. Accuracy through the two polar columns, as bench/accuracy.py reads a binary set, and
per rule the reviews it turns right and wrong against the served rule (a paired comparison: two rules that differ
on a handful of reviews are a tie).

Writes bench/results/long_reviews.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accuracy import SETS, load_set  # noqa: E402
from benchkit import write_results  # noqa: E402

from bot.classifier import Classifier, length_passes  # noqa: E402
from bot.model_source import resolve_model_dir  # noqa: E402
from bot.token_ids import padded  # noqa: E402
from finetune.calibrate import softmax  # noqa: E402
from finetune.paths import cache_root  # noqa: E402

SERVED_CHUNKS = 8   # [model] max_chunks default


def weighted(logits: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return (logits * lengths[:, None]).sum(0) / lengths.sum()


def last_weighted(factor: float):
    def rule(logits: np.ndarray, lengths: np.ndarray, temperature: float) -> np.ndarray:
        w = lengths.astype(float).copy()
        w[-1] *= factor
        return weighted(logits, w)
    return rule


def first_and_last(logits: np.ndarray, lengths: np.ndarray, temperature: float) -> np.ndarray:
    if len(logits) <= SERVED_CHUNKS:
        return weighted(logits, lengths)
    keep = np.r_[np.arange(SERVED_CHUNKS - 1), len(logits) - 1]
    return weighted(logits[keep], lengths[keep])


# rule name -> (logits of one review's windows, their token counts, the model's temperature) -> one row of logits;
# every rule except "all windows" and "first 7 + last" sees the first SERVED_CHUNKS windows, as the bot does
RULES = {
    "token-weighted mean of logits (served)": lambda z, n, t: weighted(z, n),
    "plain mean of logits": lambda z, n, t: z.mean(0),
    "token-weighted mean of probabilities": lambda z, n, t: np.log(weighted(softmax(z, t), n)),
    "first window only (truncation)": lambda z, n, t: z[0],
    "last window weighted x2": last_weighted(2.0),
    "first 7 windows + the last": first_and_last,
    "all windows, token-weighted": lambda z, n, t: weighted(z, n),
}
UNCAPPED = {"first 7 windows + the last", "all windows, token-weighted"}


def window_logits(clf: Classifier, texts: list[str], length: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per text, the logits of every window of ``length`` tokens (no cap) and the windows' token counts."""
    windows = clf.token_ids.chunks([t.strip() for t in texts], length, 10_000)
    ids = [x for w in windows for x in w]
    flat = np.zeros((len(ids), len(clf.labels)), dtype=np.float32)
    for rows in length_passes([len(x) for x in ids], clf.batch_size):
        flat[rows] = clf.backend(padded([ids[i] for i in rows], clf.token_ids.pad_id))
    out, counts, start = [], [], 0
    for w in windows:
        out.append(flat[start:start + len(w)])
        counts.append(np.array([len(x) for x in w], dtype=float))
        start += len(w)
    return out, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--datasets", type=Path, default=None, help="default: <user cache>/datasets")
    ap.add_argument("--limit", type=int, default=2000, help="seeded sample of the IMDb validation split")
    ap.add_argument("--window", type=int, nargs="+", default=[128, 256], help="window lengths in tokens")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    data_dir = args.datasets or cache_root() / "datasets"
    imdb = next(s for s in SETS if s.name == "imdb")
    texts, truth = load_set(imdb, data_dir, args.limit, args.limit, part="validation")
    y = np.array([t == "positive" for t in truth])
    results, served = {}, None     # served: each review right or wrong under the served rule at the first length
    for length in args.window:
        clf = Classifier(resolve_model_dir(args.model), max_length=length, batch_size=8, backend=args.backend,
                         max_chunks=SERVED_CHUNKS)
        neg, pos = clf.labels.index("negative"), clf.labels.index("positive")
        logits, counts = window_logits(clf, texts, clf.max_length)
        row = {"windows_per_review_mean": float(np.mean([len(z) for z in logits])),
               "reviews_over_cap": int(sum(len(z) > SERVED_CHUNKS for z in logits)), "rules": {}}
        for name, rule in RULES.items():
            cap = None if name in UNCAPPED else SERVED_CHUNKS
            combined = np.array([rule(z[:cap], n[:cap], clf.temperature) for z, n in zip(logits, counts)])
            right = (combined[:, pos] > combined[:, neg]) == y
            if served is None:
                served = right
            row["rules"][name] = {"accuracy": float(right.mean()), "turned_right": int((right & ~served).sum()),
                                  "turned_wrong": int((~right & served).sum())}
            print(f"window {clf.max_length}: {name}: {right.mean():.4f}", flush=True)
        results[str(clf.max_length)] = row
        version = clf.version
    report = {"model_version": version, "backend": args.backend, "n": len(texts), "results": results,
              "command": " ".join(["python bench/long_reviews.py", *sys.argv[1:]])}
    md = markdown(report)
    write_results(args.out, "long_reviews", report, md)
    print(md)


def markdown(report: dict) -> str:
    served = report["results"][next(iter(report["results"]))]["rules"]["token-weighted mean of logits (served)"]
    lines = [f"# Long reviews: combining windows, model `{report['model_version']}` on {report['backend']}", "",
             f"`{report['command']}`: {report['n']} reviews of the IMDb validation split (never trained on, no test "
             "number comes from it). Accuracy through the polar columns; right / wrong: reviews the rule reads "
             "differently from the served rule at the first window length "
             f"({served['accuracy']:.4f}).", "",
             "| window (tokens) | rule | accuracy | turned right | turned wrong |", "|---|---|---|---|---|"]
    for length, row in report["results"].items():
        for name, r in row["rules"].items():
            lines.append(f"| {length} ({row['windows_per_review_mean']:.1f} per review, "
                         f"{row['reviews_over_cap']} over {SERVED_CHUNKS}) | {name} | {r['accuracy']:.4f} | "
                         f"{r['turned_right']} | {r['turned_wrong']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
