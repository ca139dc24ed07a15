"""Accuracy of a feedbackbot model vs VADER (the no-training lexicon peer) on every held-out set we have.

    feedbackbot data prepare                       # once: builds the CSVs in the user cache
    python bench/accuracy.py [--model default] [--imdb-limit 2000] [--imdb-model bench/models/imdb-binary]

Sets: airline tweets 3-class test split (the same seeded split the model was trained with, rebuilt from the
data config stored in feedbackbot.json), IMDb test split (binary: positive vs negative probability), German/
French/Dutch polarity reviews (binary; an English base is expected to be weak there). Also: ECE on the airline
test split and the precision/coverage of confident ("high band") replies under the bot's default policy.
The binary IMDb model (trained the same way: `feedbackbot sweep --config finetune/recipes/imdb-sweep.toml`;
its adapter is kept in bench/models/imdb-binary) is measured on its own full IMDb test split, next to the
published ~93% of full DistilBERT-base fine-tuning.
Writes bench/results/accuracy.json and accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import write_results  # noqa: E402

from bot.classifier import Classifier  # noqa: E402
from bot.config import PolicyConfig  # noqa: E402
from bot.model_source import resolve_model_dir  # noqa: E402
from bot.policy import HIGH, Prediction, band  # noqa: E402
from finetune.calibrate import expected_calibration_error, softmax  # noqa: E402
from finetune.config import DataConfig  # noqa: E402
from finetune.data import load_labelled, prepare  # noqa: E402
from finetune.metrics import classification_metrics  # noqa: E402
from finetune.paths import cache_root  # noqa: E402


def vader_scores(texts: list[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in texts])


def split_of(path: Path, seed: int, val: float, test: float, part: str = "test", limit: int | None = None):
    ds = prepare(DataConfig(path=str(path), seed=seed, val_fraction=val, test_fraction=test)).splits[part]
    if limit and limit < len(ds):
        ds = ds.shuffle(seed=seed).select(range(limit))
    names = ds.features["label"].names
    return list(ds["text"]), [names[i] for i in ds["label"]]


def binary(probs: np.ndarray, labels: list[str]) -> np.ndarray:
    """1 = positive, 0 = negative: the larger of the two polar probabilities."""
    return (probs[:, labels.index("positive")] >= probs[:, labels.index("negative")]).astype(int)


IMDB_REFERENCE = 0.93  # full fine-tuning of DistilBERT-base on IMDb, as commonly published (Sanh et al. report 92.8)


def imdb_binary_model(spec: str, data_dir: Path, limit: int | None) -> dict:
    """The binary IMDb model on the exact test split it was trained with (rebuilt from its feedbackbot.json).

    512-token reviews run at a few per second on 2 CPU cores, so ``limit`` takes a seeded sample of the split; the
    model's own full-split test accuracy (measured at training time, on the GPU) is reported next to it.
    """
    clf = Classifier(resolve_model_dir(spec), batch_size=16)
    cfg = clf.meta["data"]["config"]
    clf.max_length = clf.meta["data"]["max_length"]
    texts, truth = split_of(data_dir / "imdb.csv", cfg["seed"], cfg["val_fraction"], cfg["test_fraction"],
                            limit=limit)
    started = time.perf_counter()
    y = np.array([clf.labels.index(t) for t in truth])
    probs = softmax(clf.logits(texts), clf.temperature)
    m = classification_metrics(y, probs.argmax(1), clf.labels)
    vader_pred = (vader_scores(texts) >= 0).astype(int)
    full = clf.meta["metrics"]["test"]
    return {"n": len(texts), "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "reference": IMDB_REFERENCE,
            "full_test_split_at_training": {"n": full["n"], "accuracy": full["accuracy"]},
            "vader_accuracy": float((vader_pred == np.array([1 if t == "positive" else 0 for t in truth])).mean()),
            "ece_after": expected_calibration_error(probs, y), "max_length": clf.max_length,
            "recipe": {"lora": clf.meta["training"]["lora"], "learning_rate": clf.meta["training"]["settings"]["learning_rate"],
                       "epochs_run": clf.meta["training"]["epochs_run"], "device": clf.meta["training"].get("device")},
            "seconds": time.perf_counter() - started}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--datasets", type=Path, default=None, help="default: <user cache>/datasets")
    ap.add_argument("--imdb-limit", type=int, default=None, help="evaluate a seeded sample of the IMDb test split")
    ap.add_argument("--long-max-length", type=int, default=256, help="max tokens for reviews (IMDb, polarity)")
    ap.add_argument("--binary-limit", type=int, default=None,
                    help="seeded sample of the binary IMDb model's test split (512 tokens are slow on a CPU)")
    ap.add_argument("--imdb-model", default=str(ROOT / "bench" / "models" / "imdb-binary"),
                    help="binary IMDb model (adapter or merged dir); 'none' skips it")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    data_dir = args.datasets or cache_root() / "datasets"
    model_dir = resolve_model_dir(args.model)
    clf = Classifier(model_dir, max_length=args.long_max_length, batch_size=32)
    labels, meta = clf.labels, clf.meta
    results: dict[str, dict] = {}

    # 1. airline tweets, 3-class: the exact test split of training (data config from feedbackbot.json)
    train_cfg = meta.get("data", {}).get("config") or {}
    if not train_cfg:
        print("note: the model records no data config; rebuilding the split with finetune's defaults "
              "(seed 42, validation 0.1, test 0.1)")
    seed, val, test = train_cfg.get("seed", 42), train_cfg.get("val_fraction", 0.1), train_cfg.get("test_fraction", 0.1)
    texts, truth = split_of(data_dir / "airline_tweets.csv", seed, val, test)
    clf.max_length = meta.get("data", {}).get("max_length", 128)
    started = time.perf_counter()
    logits = clf.logits(texts)
    probs = softmax(logits, clf.temperature)
    y = np.array([labels.index(t) for t in truth])
    model_m = classification_metrics(y, probs.argmax(1), labels)
    compound = vader_scores(texts)
    vader_pred = np.where(compound >= 0.05, labels.index("positive"), np.where(compound <= -0.05, labels.index("negative"),
                                                                            labels.index("neutral")))
    vader_m = classification_metrics(y, vader_pred, labels)
    policy = PolicyConfig()
    preds = [Prediction(labels[int(r.argmax())], dict(zip(labels, map(float, r)))) for r in probs]
    high = np.array([band(p, policy, clf.thresholds) == HIGH for p in preds])
    results["airline_tweets_3class"] = {
        "n": len(texts), "split": {"seed": seed, "val_fraction": val, "test_fraction": test},
        "model": {k: model_m[k] for k in ("accuracy", "macro_f1", "per_class")},
        "vader": {k: vader_m[k] for k in ("accuracy", "macro_f1")},
        "ece_before": expected_calibration_error(softmax(logits), y),
        "ece_after": expected_calibration_error(probs, y),
        "confident": {"coverage": float(high.mean()),
                      "precision": float((probs.argmax(1)[high] == y[high]).mean()) if high.any() else None,
                      "thresholds": clf.thresholds, "ambiguity_margin": policy.ambiguity_margin},
        "seconds": time.perf_counter() - started,
    }
    print("airline", json.dumps({k: results["airline_tweets_3class"][k] for k in ("model", "vader")}, default=str)[:400])

    # 2. binary sets: IMDb test split and the multilingual polarity files (whole files: evaluation only)
    clf.max_length = args.long_max_length
    binary_sets = {"imdb": split_of(data_dir / "imdb.csv", 42, 0.1, 0.1, limit=args.imdb_limit)}
    for lang in ("de", "fr", "nl"):
        path = data_dir / f"polarity_{lang}.csv"
        ds, names, _ = load_labelled(DataConfig(path=str(path)))     # evaluation only: the whole file
        binary_sets[f"polarity_{lang}"] = (list(ds["text"]), [names[i] for i in ds["label"]])
    for name, (texts, truth) in binary_sets.items():
        started = time.perf_counter()
        y = np.array([1 if t == "positive" else 0 for t in truth])
        model_pred = binary(softmax(clf.logits(texts), clf.temperature), labels)
        vader_pred = (vader_scores(texts) >= 0).astype(int)
        results[name] = {"n": len(texts), "model_accuracy": float((model_pred == y).mean()),
                         "vader_accuracy": float((vader_pred == y).mean()), "seconds": time.perf_counter() - started}
        print(name, results[name], flush=True)

    if args.imdb_model != "none":
        results["imdb_binary_model"] = imdb_binary_model(args.imdb_model, data_dir, args.binary_limit)
        print("imdb binary model", results["imdb_binary_model"], flush=True)

    report = {"model": str(model_dir), "model_version": clf.version, "results": results,
              "imdb_note": "'imdb' = the 3-class tweet model read as binary; 'imdb_binary_model' = the binary model "
                           "trained on IMDb; the published reference for full fine-tuning of DistilBERT-base on IMDb is "
                           "about 93% accuracy"}
    a = results["airline_tweets_3class"]
    rows = [f"| airline tweets (3-class test, n={a['n']}) | {a['model']['accuracy']:.3f} / F1 {a['model']['macro_f1']:.3f} "
            f"| {a['vader']['accuracy']:.3f} / F1 {a['vader']['macro_f1']:.3f} |"]
    rows += [f"| {name} (binary, n={r['n']}) | {r['model_accuracy']:.3f} | {r['vader_accuracy']:.3f} |"
             for name, r in results.items() if name not in ("airline_tweets_3class", "imdb_binary_model")]
    if "imdb_binary_model" in results:
        r = results["imdb_binary_model"]
        f = r["full_test_split_at_training"]
        rows.append(f"| **IMDb binary model**, its IMDb test split (n={r['n']}) | **{r['accuracy']:.3f}**; full split "
                    f"(n={f['n']}, at training) {f['accuracy']:.3f}; reference full DistilBERT-base ~{r['reference']:.2f}, "
                    f"gap {100 * (f['accuracy'] - r['reference']):+.1f} pts | {r['vader_accuracy']:.3f} |")
    conf = a["confident"]
    markdown = (
        "# Accuracy: feedbackbot models vs VADER\n\n`python bench/accuracy.py"
        + (f" --imdb-limit {args.imdb_limit}" if args.imdb_limit else "")
        + (f" --binary-limit {args.binary_limit}" if args.binary_limit else "") + "`\n\n"
        "| test set | model accuracy | VADER accuracy |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Airline test: ECE {a['ece_before']:.3f} before / {a['ece_after']:.3f} after temperature scaling; confident "
        f"replies cover {100 * conf['coverage']:.1f}% of messages at {100 * (conf['precision'] or 0):.1f}% precision.\n")
    write_results(args.out, "accuracy", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
