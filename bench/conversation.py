"""The conversation, measured (issue: a conversation customers don't find robotic).

    python bench/conversation.py [--model default]

1. Message kinds on the held-out set data/conversation/kinds_test.jsonl (written independently of the few-shot
   examples in bot/kinds_examples.jsonl): precision / recall / F1 per kind, macro-F1, per language, confusions.
   The detector's settings were chosen by 5-fold cross-validation on the packaged examples (never on the test set);
   the shipped setting's cross-validated score is reported next to the test score.
2. Confirmation steps: the share of held-out feedback messages (behaviour suite) that the served model answers
   confidently, that get a follow-up question, and that still need the label buttons after the customer's
   follow-up answer (simulated as another held-out message of the same sentiment and language, read together
   with the first as the bot does: policy.combine_evidence), over all of them and over those the kind detector
   reads as feedback; the previous design (the two messages concatenated) on the same draws for comparison.
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
from bot.kinds import KindDetector, normalise, packaged_examples  # noqa: E402
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
    examples = packaged_examples()
    detector = KindDetector(examples)
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
    # Short stock phrases ("hi", "merci, au revoir") are written the same way by anyone, so some test messages are
    # also examples, word for word after normalising: the score on the rest is reported beside the whole.
    known = {normalise(e.text) for e in examples}
    unseen = [i for i, r in enumerate(rows) if normalise(r["text"]) not in known]
    confusions = Counter((g, p) for g, p in zip(gold, pred) if g != p).most_common(8)
    errors = [{"text": r["text"], "gold": g, "predicted": p} for r, g, p in zip(rows, gold, pred) if g != p][:25]
    return {"n": len(rows), **prf(gold, pred), "by_language": by_language,
            "also_examples": len(rows) - len(unseen),
            "unseen": {"n": len(unseen), **prf([gold[i] for i in unseen], [pred[i] for i in unseen])},
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
    """How often the flow needs a follow-up, and how often the buttons, on held-out feedback with the served model.

    The follow-up answer is simulated as another held-out message of the same sentiment and language, read as the
    bot reads it (policy.combine_evidence of the two messages). Counted over every suite message, and over the
    messages the bot actually reads as feedback (the kind detector sends questions, hand-off requests... elsewhere,
    where no confirmation is ever asked). The previous design, reading the two messages concatenated, is measured
    on the same draws for comparison."""
    from bot.classifier import Classifier
    from bot.model_source import resolve_model_dir
    from bot.policy import HIGH, band, combine_evidence

    cfg = BotConfig()
    classifier = Classifier.from_config(resolve_model_dir(model, lambda *_: None), cfg.model, lambda *_: None)
    rows = feedback_messages()
    first = classifier.predict([r["text"] for r in rows])
    kinds = [k.kind for k in map(KindDetector(packaged_examples()).detect, (r["text"] for r in rows))]
    high = [band(p, cfg.policy, classifier.thresholds) == HIGH for p in first]
    rng = random.Random(seed)
    pool = defaultdict(list)
    for r in rows:
        pool[(r["label"], r["language"])].append(r["text"])
    unsure = [i for i, h in enumerate(high) if not h]
    answers = []
    for i in unsure:
        others = [t for t in pool[(rows[i]["label"], rows[i]["language"])] if t != rows[i]["text"]]
        answers.append(rng.choice(others) if others else rows[i]["text"])
    alone = classifier.predict(answers) if answers else []
    joined = classifier.predict([f"{rows[i]['text']}\n{a}" for i, a in zip(unsure, answers)]) if answers else []
    second = {"combined": {i: combine_evidence(first[i], a, classifier.served_prior) for i, a in zip(unsure, alone)},
              "concatenated": dict(zip(unsure, joined))}

    def summary(indices: list[int], reading: dict) -> dict:
        n = len(indices)
        asked = [i for i in indices if not high[i]]
        settled = [i for i in asked if band(reading[i], cfg.policy, classifier.thresholds) == HIGH]
        confident = [i for i in indices if high[i]]
        return {"n": n, "confident_first": len(confident) / n, "follow_up": len(asked) / n,
                "confirmation_buttons": (len(asked) - len(settled)) / n,
                "label_right_when_confident_first": sum(first[i].label == rows[i]["label"] for i in confident)
                / max(1, len(confident)),
                "label_right_when_settled_by_follow_up": sum(reading[i].label == rows[i]["label"] for i in settled)
                / max(1, len(settled))}

    everything = list(range(len(rows)))
    as_feedback = [i for i, k in enumerate(kinds) if k == "feedback"]
    return {"model": classifier.version, "label_prior": classifier.label_prior,
            "kinds_of_suite_messages": dict(Counter(kinds)),
            "all_messages": summary(everything, second["combined"]),
            "read_as_feedback": summary(as_feedback, second["combined"]),
            "previous_design_concatenated": {"all_messages": summary(everything, second["concatenated"]),
                                             "read_as_feedback": summary(as_feedback, second["concatenated"])}}


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
    ap.add_argument("--keep-latency", action="store_true",
                    help="take the latency block from the last results file (when the CPU is busy with training, "
                         "a timing now would be wrong); the report says so")
    args = ap.parse_args()
    report = {"cross_validation_macro_f1": cross_validation(), "kinds": kinds_report(),
              "templates_with_label_names": label_names_in_templates()}
    if not args.skip_model:
        report["confirmation"] = confirmation_report(args.model)
        if args.keep_latency:
            previous = json.loads((ROOT / "bench" / "results" / "conversation.json").read_text())
            report["latency"] = {**previous["latency"], "kept_from_previous_run": True}
        else:
            report["latency"] = reply_latency(args.model)
    k = report["kinds"]
    lines = [
        "# Conversation benchmark", "",
        f"`python bench/conversation.py` — kinds on the held-out set ({k['n']} messages, 7 languages; "
        "data/conversation/kinds_test.jsonl). The detector (a class-balanced logistic head on n-gram TF-IDF, see "
        "bot/kinds.py) was chosen by 5-fold cross-validation on the packaged examples: macro-F1 "
        f"{report['cross_validation_macro_f1']:.3f} there.", "",
        f"**Held-out kinds: macro-F1 {k['macro_f1']:.3f}, accuracy {k['accuracy']:.3f}**; "
        f"detector {k['ms_per_message_p50']:.2f} ms p50 / {k['ms_per_message_p95']:.2f} ms p95 per message. "
        f"{k['also_examples']} of the test messages are also few-shot examples word for word (short stock phrases: "
        f"\"hi\", \"merci, au revoir\"); on the other {k['unseen']['n']}: macro-F1 {k['unseen']['macro_f1']:.3f}, "
        f"accuracy {k['unseen']['accuracy']:.3f}.", "",
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
        rows = [("every suite message (as if all were feedback)", c["all_messages"],
                 c["previous_design_concatenated"]["all_messages"]),
                ("messages the bot reads as feedback", c["read_as_feedback"],
                 c["previous_design_concatenated"]["read_as_feedback"])]
        lines += [f"**Confirmation steps** (held-out behaviour-suite messages, model {c['model']}; the follow-up "
                  "answer simulated as another held-out message of the same sentiment and language; the kind "
                  f"detector reads the suite's messages as {c['kinds_of_suite_messages']}):", "",
                  "| messages | n | confident at once (label right) | follow-up question | label buttons after the "
                  "follow-up (two readings combined) | settled by the follow-up: label right | buttons, previous "
                  "design (messages concatenated) | settled: label right |", "|---|---|---|---|---|---|---|---|",
                  *[f"| {name} | {a['n']} | {a['confident_first']:.1%} ({a['label_right_when_confident_first']:.1%})"
                    f" | {a['follow_up']:.1%} | **{a['confirmation_buttons']:.1%}** | "
                    f"{a['label_right_when_settled_by_follow_up']:.1%} | {b['confirmation_buttons']:.1%} | "
                    f"{b['label_right_when_settled_by_follow_up']:.1%} |" for name, a, b in rows], ""]
        lat = report["latency"]
        lines += [f"**Latency**: Bot.reply() p50 {lat['p50_with_ms']:.2f} ms with kind + language detection vs "
                  f"{lat['p50_without_ms']:.2f} ms without (interleaved blocks, {lat['messages']} messages each): "
                  f"**{lat['added_ms']:+.2f} ms**." + (" (Kept from the previous run of this script: this one ran "
                                                       "beside a training run, where a timing would be wrong.)"
                                                       if lat.get("kept_from_previous_run") else ""), ""]
    print(write_results(ROOT / "bench" / "results", "conversation", report, "\n".join(lines)).read_text())


if __name__ == "__main__":
    main()
