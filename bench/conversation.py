"""The conversation, measured (issue: a conversation customers don't find robotic).

    python bench/conversation.py [--model default]

1. Message kinds on the held-out set data/conversation/kinds_test.jsonl (written independently of the few-shot
   examples in bot/kinds_examples.jsonl): precision / recall / F1 per kind, macro-F1, per language, confusions.
   The detector's settings were chosen by 5-fold cross-validation on the packaged examples (never on the test set);
   the shipped setting's cross-validated score is reported next to the test score.
2. Confirmation steps: the share of held-out feedback messages (behaviour suite + kinds test feedback) that the
   served model answers confidently, that get a follow-up question, and that still need the label buttons after
   the customer's follow-up answer (simulated as another held-out message of the same sentiment and language).
3. Label names: every reply text (all templates, all languages) and every reply of the run is checked for
   "negative" / "neutral" / "positive".
4. Latency: the kind detector's own time per message (what it adds to Bot.reply()).
Writes bench/results/conversation.json and conversation.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import percentile, write_results  # noqa: E402

from bot.config import BotConfig  # noqa: E402
from bot.kinds import KindDetector, packaged_examples  # noqa: E402
from finetune.metrics import classification_metrics  # noqa: E402

KINDS_TEST = ROOT / "data" / "conversation" / "kinds_test.jsonl"
BEHAVIOUR = ROOT / "data" / "behaviour"
LABEL_NAMES = ("negative", "neutral", "positive")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prf(gold: list[str], pred: list[str]) -> dict:
    """Per-kind precision / recall / F1 (finetune.metrics), macro-F1 over the kinds in ``gold``, accuracy."""
    kinds = sorted(set(gold) | set(pred))
    m = classification_metrics([kinds.index(g) for g in gold], [kinds.index(p) for p in pred], kinds)
    return {"per_kind": m["per_class"], "macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}


def cross_validation(folds: int = 5, seed: int = 0) -> float:
    """Macro-F1 of the shipped detector by k-fold cross-validation on the packaged examples."""
    import tempfile

    examples = packaged_examples()
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    gold, pred = [], []
    with tempfile.TemporaryDirectory() as cache:
        for k in range(folds):
            held = set(order[k::folds])
            detector = KindDetector([examples[i] for i in order if i not in held], cache_dir=Path(cache))
            for i in order[k::folds]:
                gold.append(examples[i].kind)
                pred.append(detector.detect(examples[i].text).kind)
    return prf(gold, pred)["macro_f1"]


def kinds_report() -> dict:
    rows = read_jsonl(KINDS_TEST)
    detector = KindDetector(packaged_examples())
    started = time.perf_counter()
    timings, pred = [], []
    for r in rows:
        t0 = time.perf_counter()
        pred.append(detector.detect(r["text"]).kind)
        timings.append((time.perf_counter() - t0) * 1000)
    gold = [r["kind"] for r in rows]
    by_language = {}
    for lang in sorted({r["language"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["language"] == lang]
        by_language[lang] = prf([gold[i] for i in idx], [pred[i] for i in idx])["macro_f1"]
    confusions = Counter((g, p) for g, p in zip(gold, pred) if g != p).most_common(8)
    errors = [{"text": r["text"], "gold": g, "predicted": p} for r, g, p in zip(rows, gold, pred) if g != p][:25]
    return {"n": len(rows), **prf(gold, pred), "by_language": by_language,
            "confusions": [{"gold": g, "predicted": p, "count": c} for (g, p), c in confusions],
            "examples_of_errors": errors, "ms_per_message_p50": percentile(timings, 0.5),
            "ms_per_message_p95": percentile(timings, 0.95), "seconds": time.perf_counter() - started}


def feedback_messages() -> list[dict]:
    rows = []
    for path in sorted(BEHAVIOUR.glob("*.jsonl")):
        if path.name.startswith("set_aside"):
            continue
        rows += [{"text": r["text"], "label": r["label"], "language": r.get("language", "en")} for r in read_jsonl(path)]
    return rows


def confirmation_report(model: str, seed: int = 0) -> dict:
    """How often the flow needs a follow-up, and how often the buttons, on held-out feedback with the served model."""
    from bot.classifier import Classifier
    from bot.model_source import resolve_model_dir
    from bot.policy import HIGH, band

    cfg = BotConfig()
    classifier = Classifier.from_config(resolve_model_dir(model, lambda *_: None), cfg.model, lambda *_: None)
    rows = feedback_messages()
    first = classifier.predict([r["text"] for r in rows])
    bands = [band(p, cfg.policy, classifier.thresholds) for p in first]
    rng = random.Random(seed)
    pool = defaultdict(list)
    for r in rows:
        pool[(r["label"], r["language"])].append(r["text"])
    unsure = [i for i, b in enumerate(bands) if b != HIGH]
    followups = []
    for i in unsure:
        others = [t for t in pool[(rows[i]["label"], rows[i]["language"])] if t != rows[i]["text"]]
        followups.append(f"{rows[i]['text']}\n{rng.choice(others)}" if others else rows[i]["text"])
    second = classifier.predict(followups) if followups else []
    still = sum(band(p, cfg.policy, classifier.thresholds) != HIGH for p in second)
    n = len(rows)
    return {"n": n, "model": classifier.version, "confident_first": 1 - len(unsure) / n,
            "follow_up": len(unsure) / n, "confirmation_buttons": still / n,
            "replies_label_accuracy_when_confident": sum(
                p.label == r["label"] for p, r, b in zip(first, rows, bands) if b == HIGH) / max(1, n - len(unsure))}


def reply_latency(model: str, messages: int = 400, block: int = 50) -> dict:
    """Bot.reply() p50 with and without kind + language detection, interleaved in blocks on the same messages
    (what the conversation layer adds to a reply, measured where both see the same machine load)."""
    import tempfile

    import bot.core as core
    from bot.core import Bot
    from bot.kinds import KindGuess

    cfg = BotConfig()
    cfg.model.path = model
    cfg.db.url = f"sqlite:///{tempfile.mkdtemp()}/latency.sqlite3"
    bot = Bot.from_config(cfg, lambda *_: None)
    texts = [r["text"] for r in feedback_messages()]
    real_detect, real_language = bot.kinds.detect, core.detect_language
    times = {"with": [], "without": []}
    for start in range(0, messages, block):
        for mode in ("with", "without"):
            bot.kinds.detect = real_detect if mode == "with" else (lambda text: KindGuess("feedback", 1.0))
            core.detect_language = real_language if mode == "with" else (lambda text, languages=(): None)
            for i in range(start, start + block):
                t0 = time.perf_counter()
                bot.reply(f"{mode}-{i}", texts[i % len(texts)])
                times[mode].append((time.perf_counter() - t0) * 1000)
    core.detect_language = real_language
    p50 = {mode: percentile(values, 0.5) for mode, values in times.items()}
    return {"messages": messages, "p50_with_ms": p50["with"], "p50_without_ms": p50["without"],
            "added_ms": p50["with"] - p50["without"]}


def label_names_in_templates() -> list[str]:
    from bot.render import Renderer, sample_context

    renderer = Renderer()
    found = []
    ctx = sample_context(list(LABEL_NAMES))
    ctx["label"] = ctx["leaning"] = "x"
    for (language, key), variants in renderer._variants.items():
        for i in range(len(variants)):
            text = renderer._compiled[((language, key), False, i)].render(**ctx).lower()
            found += [f"{language or 'en'}/{key}.j2 #{i + 1}" for name in LABEL_NAMES if name in text]
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--skip-model", action="store_true", help="kinds and templates only (no model needed)")
    args = ap.parse_args()
    report = {"cross_validation_macro_f1": cross_validation(), "kinds": kinds_report(),
              "templates_with_label_names": label_names_in_templates()}
    if not args.skip_model:
        report["confirmation"] = confirmation_report(args.model)
        report["latency"] = reply_latency(args.model)
    k = report["kinds"]
    lines = [
        "# Conversation benchmark", "",
        f"`python bench/conversation.py` — kinds on the held-out set ({k['n']} messages, 7 languages; "
        "data/conversation/kinds_test.jsonl). The detector (a class-balanced logistic head on n-gram TF-IDF, see "
        "bot/kinds.py) was chosen by 5-fold cross-validation on the packaged examples: macro-F1 "
        f"{report['cross_validation_macro_f1']:.3f} there.", "",
        f"**Held-out kinds: macro-F1 {k['macro_f1']:.3f}, accuracy {k['accuracy']:.3f}**; "
        f"detector {k['ms_per_message_p50']:.2f} ms p50 / {k['ms_per_message_p95']:.2f} ms p95 per message.", "",
        "| kind | precision | recall | F1 | n |", "|---|---|---|---|---|",
        *[f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
          for name, v in k["per_kind"].items()], "",
        "| language | " + " | ".join(k["by_language"]) + " |", "|---|" + "---|" * len(k["by_language"]),
        "| macro-F1 | " + " | ".join(f"{v:.3f}" for v in k["by_language"].values()) + " |", "",
        "Most frequent confusions (gold -> predicted): " + ", ".join(
            f"{c['gold']} -> {c['predicted']} ({c['count']})" for c in k["confusions"]), "",
        f"Templates whose replies contain a label name: {len(report['templates_with_label_names'])}", ""]
    if "confirmation" in report:
        c = report["confirmation"]
        lines += [f"**Confirmation steps** ({c['n']} held-out feedback messages, model {c['model']}): confident at "
                  f"once {c['confident_first']:.1%} (label right {c['replies_label_accuracy_when_confident']:.1%}); "
                  f"follow-up question {c['follow_up']:.1%}; label buttons after the follow-up answer "
                  f"**{c['confirmation_buttons']:.1%}** (the follow-up answer simulated as another held-out "
                  "message of the same sentiment and language).", ""]
        lat = report["latency"]
        lines += [f"**Latency**: Bot.reply() p50 {lat['p50_with_ms']:.2f} ms with kind + language detection vs "
                  f"{lat['p50_without_ms']:.2f} ms without (interleaved blocks, {lat['messages']} messages each): "
                  f"**{lat['added_ms']:+.2f} ms**.", ""]
    print(write_results(ROOT / "bench" / "results", "conversation", report, "\n".join(lines)).read_text())


if __name__ == "__main__":
    main()
