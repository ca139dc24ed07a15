"""Calibration per domain and language: how far each calibrator gets ECE, and how far ECE could get at all.

    python bench/calibration.py [--model default] [--backend onnx-int8] [--imdb-limit 1000] [--limit 1000]

For every held-out set of bench/accuracy.py, the served model's logits on the set's validation part and test part
(cached per model version under the user cache, so a second run takes seconds). Each calibrator is fitted on the
validation part only, and ECE (15 equal-width bins) is measured on the test part:

- **model T**: the model's own temperature (fitted on its training mix's validation split), what a new bot serves;
- **domain T**: one temperature fitted on the domain (what `feedbackbot calibrate` does with a business's messages);
- **domain T + bias**: a temperature and one bias per class (the domain's label prior differs from the
  training mix's, or the model leans one way on it; a bias absorbs that, which one temperature cannot);
- **domain scales + bias**: also one scale per class (vector scaling: one class's logit means something else on
  this domain, e.g. *neutral* on 3-star shop reviews);
- **calibrate**: what `feedbackbot calibrate` serves, choosing among the three on the validation part alone.

**Noise floor**: ECE is a biased estimate: even a perfectly calibrated model shows ECE > 0 on n messages, larger
for small n. For each set, labels are drawn from the calibrated probabilities themselves (500 draws) and the ECE of
those draws is the floor: its mean, and its 95th percentile. A measured ECE under the 95th percentile cannot be told
apart from perfect calibration on that many messages.

A binary set (positive/negative) reads the 3-class model through its two polar columns (as bench/accuracy does).
Writes bench/results/calibration.{json,md} and calibration.png (reliability diagrams).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accuracy import SETS, THREE, load_set, served_classifier  # noqa: E402
from benchkit import write_results  # noqa: E402

from bot.classifier import Classifier  # noqa: E402
from bot.domain_calibration import CalibrationDataError, calibrate  # noqa: E402
from bot.model_source import resolve_model_dir  # noqa: E402
from finetune.calibrate import (expected_calibration_error, fit_scales_and_bias, fit_temperature,  # noqa: E402
                                fit_temperature_and_bias, on_columns, reliability, softmax)
from finetune.paths import cache_root  # noqa: E402

DRAWS = 500


def noise_floor(probs: np.ndarray, draws: int = DRAWS, seed: int = 0) -> tuple[float, float]:
    """(mean, 95th percentile) of the ECE a perfectly calibrated model with these probabilities shows on this many
    messages: labels drawn from the probabilities themselves."""
    rng = np.random.default_rng(seed)
    cum = probs.cumsum(axis=1)
    eces = []
    for _ in range(draws):
        u = rng.random((len(probs), 1))
        y = np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)
        eces.append(expected_calibration_error(probs, y))
    return float(np.mean(eces)), float(np.percentile(eces, 95))


class CachedLogits:
    """A classifier stand-in over logits already computed (texts are row numbers), for `calibrate`."""

    def __init__(self, clf: Classifier, logits: np.ndarray, names: list[str]):
        self.labels, self.version, self.model_temperature = names, clf.version, clf.temperature
        self._logits = logits

    def logits(self, texts: list[str]) -> np.ndarray:
        return self._logits[[int(t) for t in texts]]


def cached_logits(clf: Classifier, cache: Path, key: str, texts: list[str]) -> np.ndarray:
    path = cache / f"{key}.npy"
    if path.is_file():
        found = np.load(path)
        if len(found) == len(texts):
            return found
    logits = clf.logits(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, logits)
    return logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--datasets", type=Path, default=None, help="default: <user cache>/datasets")
    ap.add_argument("--imdb-limit", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    data_dir = args.datasets or cache_root() / "datasets"
    clf = served_classifier(resolve_model_dir(args.model), args.backend)
    if clf.labels != THREE:
        raise SystemExit(f"this bench reads a 3-class model ({THREE}); it has {clf.labels}")
    # the served ONNX file's name carries its recipe's version (bot/onnx_export.py): a changed export is read afresh
    graph = getattr(clf.backend, "path", None)
    cache = cache_root() / "bench-logits" / clf.version.replace(":", "_") / (f"{args.backend}-{graph.stem}" if graph
                                                                               else args.backend)
    results, diagrams = {}, {}
    for s in SETS:
        if not (data_dir / f"{s.name}.csv").is_file():
            raise SystemExit(f"{data_dir / (s.name + '.csv')} missing: run `feedbackbot data prepare` first")
        parts = {}
        for part in ("validation", "test"):
            texts, truth = load_set(s, data_dir, args.imdb_limit or None, args.limit, part=part)
            logits = cached_logits(clf, cache, f"{s.name}-{part}-{args.imdb_limit}-{args.limit}", texts)
            parts[part] = on_columns(logits, clf.labels, THREE if s.classes == 3 else ["negative", "positive"], truth)
            if part == "test":
                served_logits, served_truth = logits, np.array([clf.labels.index(t) for t in truth])
        (val_x, val_y), (test_x, test_y) = parts["validation"], parts["test"]
        names = THREE if s.classes == 3 else ["negative", "positive"]
        # both calibrators fitted directly on the whole validation half, so they are reported even where
        # `calibrate` refuses (too few messages, e.g. German); calibrate's own final fit is the same fit
        t_domain = fit_temperature(val_x, val_y)
        t_bias, bias = fit_temperature_and_bias(val_x, val_y)
        t_scales, scales, scales_bias = fit_scales_and_bias(val_x, val_y)
        # what `feedbackbot calibrate` (auto) would serve from the validation half: it picks between the two itself
        try:
            chosen = calibrate(CachedLogits(clf, val_x, names), [str(i) for i in range(len(val_y))],
                               [names[k] for k in val_y])
            chosen_t, chosen_bias = chosen.temperature, np.array([chosen.biases.get(name, 0.0) for name in names])
            chosen_scale = np.array([chosen.scales.get(name, 1.0) for name in names])
            method = chosen.method
        except CalibrationDataError as exc:     # too few messages: the bot keeps the model's own temperature
            chosen_t, chosen_bias, method = clf.temperature, np.zeros(len(names)), f"refused: {exc}"
            chosen_scale = np.ones(len(names))
        calibrated = {"model T": softmax(test_x, clf.temperature), "domain T": softmax(test_x, t_domain),
                      "domain T + bias": softmax(test_x / t_bias + bias, 1.0),
                      "domain scales + bias": softmax(scales * test_x / t_scales + scales_bias, 1.0),
                      "calibrate": softmax(chosen_scale * test_x / chosen_t + chosen_bias, 1.0)}
        row = {"language": s.language, "domain": s.domain, "classes": s.classes, "n_validation": len(val_y),
               "n_test": len(test_y), "temperature_model": clf.temperature, "temperature_domain": t_domain,
               "temperature_with_bias": t_bias, "bias": [float(b) for b in bias],
               "temperature_with_scales": t_scales, "scales": [float(v) for v in scales],
               "scales_bias": [float(b) for b in scales_bias], "calibrate_chose": method}
        for name, p in calibrated.items():
            # model_t, domain_t, domain_t_bias, domain_scales_bias, calibrate
            key = name.replace(" + ", "_").replace(" ", "_").lower()
            floor_mean, floor_p95 = noise_floor(p)
            row[key] = {"ece": expected_calibration_error(p, test_y), "accuracy": float((p.argmax(1) == test_y).mean()),
                        "floor_mean": floor_mean, "floor_p95": floor_p95}
        diagrams[s.name] = {name: reliability(p, test_y) for name, p in calibrated.items()}
        if s.classes == 2:
            # as the bot answers: all three columns (neutral keeps bias 0 and scale 1); a neutral answer counts as wrong here
            full_bias = np.array([chosen_bias[names.index(k)] if k in names else 0.0 for k in clf.labels])
            full_scale = np.array([chosen_scale[names.index(k)] if k in names else 1.0 for k in clf.labels])
            served = {"model T": softmax(served_logits, clf.temperature),
                      "calibrate": softmax(full_scale * served_logits / chosen_t + full_bias, 1.0)}
            row["served_three_columns"] = {name: {"accuracy": float((q.argmax(1) == served_truth).mean()),
                                                  "neutral_share": float((q.argmax(1) == clf.labels.index("neutral")).mean())}
                                           for name, q in served.items()}
        results[s.name] = row
        print(f"{s.name}: ECE model T {row['model_t']['ece']:.3f} · domain T {row['domain_t']['ece']:.3f} · "
              f"T+bias {row['domain_t_bias']['ece']:.3f} · scales+bias {row['domain_scales_bias']['ece']:.3f} · calibrate ({method}) {row['calibrate']['ece']:.3f} "
              f"(floor {row['calibrate']['floor_mean']:.3f}, p95 {row['calibrate']['floor_p95']:.3f}), "
              f"n={len(test_y)}", flush=True)
    report = {"model_version": clf.version, "backend": args.backend, "results": results,
              "command": " ".join(["python bench/calibration.py", *sys.argv[1:]])}
    md = markdown(report)
    write_results(args.out, "calibration", report, md)
    plot(diagrams, args.out / "calibration.png")
    print(md)


def markdown(report: dict) -> str:
    def cell(r: dict) -> str:
        ok = "✓" if r["ece"] <= 0.03 or r["ece"] <= r["floor_p95"] else ""
        return f"{r['ece']:.3f}{' ' + ok if ok else ''}"

    rows = [f"| {name} | {r['language']} | {r['n_test']} | {cell(r['model_t'])} | {cell(r['domain_t'])} | "
            f"{cell(r['domain_t_bias'])} | {cell(r['domain_scales_bias'])} | {cell(r['calibrate'])} ({r['calibrate_chose']}) | "
            f"{r['calibrate']['floor_mean']:.3f} / {r['calibrate']['floor_p95']:.3f} | "
            f"{r['model_t']['accuracy']:.3f} → {r['calibrate']['accuracy']:.3f} |"
            for name, r in report["results"].items()]
    return (f"# Calibration per domain: model `{report['model_version']}`, backend {report['backend']}\n\n"
            f"`{report['command']}`. Calibrators fitted on each set's validation part, ECE (15 bins) on its test "
            "part. ✓: ECE ≤ 0.03, or under the noise floor's 95th percentile (a perfectly calibrated model would "
            "show as much on this many messages).\n\n"
            "`feedbackbot calibrate` (auto) chooses among the three on the validation half alone (a richer one only "
            "where its held-out log-loss gain over the simpler exceeds two standard errors).\n\n"
            "| set | lang | n test | ECE model T | ECE domain T | ECE domain T + bias | ECE domain scales + bias | "
            "ECE `calibrate` (its choice) | noise floor of that: mean / p95 | accuracy model T → `calibrate` |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n" + served_rows(report))


def served_rows(report: dict) -> str:
    rows = [f"| {name} | {r['served_three_columns']['model T']['accuracy']:.3f} → "
            f"{r['served_three_columns']['calibrate']['accuracy']:.3f} | "
            f"{r['served_three_columns']['calibrate']['neutral_share']:.1%} |"
            for name, r in report["results"].items() if "served_three_columns" in r]
    return ("\nBinary sets above are read through the two polar columns (as bench/accuracy.py reads them). The bot "
            "itself answers from all three (neutral keeps bias 0 and scale 1); counting a neutral answer as wrong:\n\n"
            "| binary set | accuracy, model T → `calibrate`, three columns | answered neutral after `calibrate` |\n"
            "|---|---|---|\n" + "\n".join(rows) + "\n")


def plot(diagrams: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(diagrams)
    cols = 4
    fig, axes = plt.subplots((len(names) + cols - 1) // cols, cols, figsize=(4 * cols, 3.6 * ((len(names) + cols - 1) // cols)))
    for ax, name in zip(axes.flat, names):
        ax.plot([0, 1], [0, 1], color="#999", lw=1)
        for label, rel in diagrams[name].items():
            pts = [(b["confidence"], b["accuracy"]) for b in rel["bins"] if b["count"]]
            ax.plot(*zip(*pts), marker="o", ms=3, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlim(0.3, 1), ax.set_ylim(0.3, 1)
        ax.set_xlabel("confidence"), ax.set_ylabel("accuracy")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
