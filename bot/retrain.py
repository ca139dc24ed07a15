"""`feedbackbot retrain`: the next model from what customers and operators said, compared with the serving one.

1. New labels from the store (bot.export.labelled_row): operator labels win over customer corrections, which win
   over the model's own confident predictions (only with ``include_model``; never its unsure guesses; answers,
   greetings, questions and withdrawn messages never). The newest ``holdout_days`` of human labels are held out
   by time as their own suite; the rest join training.
2. The serving model's recipe (its feedbackbot.json: data config, base, LoRA and training settings) with the new
   labels as extra training data (train split only: the recipe's validation and test splits stay as they were, so
   the model is still chosen and measured on data it never saw), through the same `finetune` pipeline: LoRA on
   accelerate (a GPU when present), calibration, merge.
3. A report (markdown + PNG) comparing candidate and serving model on the recipe's test split, the behaviour suite,
   the held-out new labels and the replies: which held-out messages changed label, and whether for the better.
Then `feedbackbot models add OUT/model` and `models promote` (bot.registry) put it in service.
"""

from __future__ import annotations

import csv
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

from finetune.base import base_spec
from finetune.config import DataConfig, FinetuneConfig, LoraSettings, TrainSettings
from finetune.model_dir import read_meta

from .export import labelled_row
from .policy import HUMAN_SOURCES
from .store import Store


class RetrainError(ValueError):
    """Retraining cannot start: no new labels, or the serving model's recipe cannot be followed here."""


def collect_labels(store: Store, out_dir: Path, holdout_days: float, include_model: bool,
                   now: datetime | None = None) -> dict:
    """Write OUT/new_labels.csv (training) and OUT/new_labels_holdout.csv (the newest human labels); counts."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=holdout_days)
    train, held = [], []
    for row in store.iter_messages():
        labelled = labelled_row(row, include_model=include_model)
        if labelled is None:
            continue
        created = datetime.fromisoformat(row["created_at"]) if row["created_at"] else now
        created = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
        (held if created >= cutoff and labelled["source"] in HUMAN_SOURCES else train).append(labelled)
    if not train:
        raise RetrainError("no new labels to train on yet (operators' labels, customers' corrections"
                           + (", confident predictions" if include_model else "") + ")")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"train": out_dir / "new_labels.csv", "holdout": out_dir / "new_labels_holdout.csv"}
    for name, rows in (("train", train), ("holdout", held)):
        with open(paths[name], "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label", "source"])
            writer.writeheader()
            writer.writerows(rows)
    sources: dict[str, int] = {}
    for r in train:
        sources[r["source"]] = sources.get(r["source"], 0) + 1
    return {"train": len(train), "holdout": len(held), "sources": sources, "paths": {k: str(v) for k, v in paths.items()}}


def recipe(serving_dir: Path, out: Path, new_labels: Path, epochs: int | None = None) -> FinetuneConfig:
    """The serving model's own recipe, with the new labels added to its training split."""
    meta = read_meta(serving_dir)
    try:
        data = dict(meta["data"]["config"])
        training = meta["training"]
    except KeyError:
        raise RetrainError(f"{serving_dir} records no training recipe (feedbackbot.json data/training): "
                           "retrain it with `feedbackbot finetune` instead") from None
    data["extra_train"] = [*data.get("extra_train", []), str(new_labels)]
    source = Path(str(data["path"])).expanduser()
    if not source.is_file():
        raise RetrainError(f"the serving model was trained on {data['path']}, which is not on this machine: run "
                           "`feedbackbot data prepare` (or pass the recipe's data) first")
    settings = TrainSettings(**training["settings"])
    if epochs:
        settings = dataclasses.replace(settings, epochs=epochs)
    return FinetuneConfig(base=base_spec(meta.get("base", {})), out=str(out), data=DataConfig(**data), lora=LoraSettings(**training["lora"]),
                          train=settings, keep_layers=int(training.get("keep_layers", 0)))


def compare_on(texts: list[str], labels: list[str], serving, candidate, policy=None) -> dict:
    """Accuracy of both models on labelled texts, every message whose label changed, and (with ``policy``) the
    replies the policy would give: how many get a confident reply, and how many of those are right."""
    from .policy import HIGH, band

    before = serving.predict(texts) if texts else []
    after = candidate.predict(texts) if texts else []
    changed = [{"text": t, "label": y, "serving": b.label, "candidate": a.label,
                "better": a.label == y and b.label != y}
               for t, y, b, a in zip(texts, labels, before, after) if a.label != b.label]
    n = max(1, len(texts))
    out = {"n": len(texts), "serving": sum(b.label == y for b, y in zip(before, labels)) / n,
           "candidate": sum(a.label == y for a, y in zip(after, labels)) / n, "changed": changed}
    if policy is not None:
        for name, model, predictions in (("serving", serving, before), ("candidate", candidate, after)):
            confident = [p.label == y for p, y in zip(predictions, labels)
                         if band(p, policy, model.thresholds) == HIGH]
            out[f"{name}_replies"] = {"coverage": len(confident) / n,
                                      "precision": sum(confident) / len(confident) if confident else None}
    return out


def _replies(r: dict) -> str:
    return f"{r['coverage']:.0%} answered confidently" + (
        f", {r['precision']:.0%} of those right" if r["precision"] is not None else "")


def write_report(out: Path, counts: dict, suites: dict[str, tuple[float, float]], held: dict,
                 serving_version: str, candidate_version: str, calibration: dict | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(suites)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], [suites[n][0] for n in names], height=0.4, label=f"serving {serving_version}")
    ax.barh([i - 0.2 for i in y], [suites[n][1] for n in names], height=0.4, label=f"candidate {candidate_version}")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "retrain_report.png", dpi=110)
    plt.close(fig)
    lines = [f"# Retrain: {candidate_version} vs {serving_version}", "",
             f"New labels: {counts['train']} for training ({', '.join(f'{k} {v}' for k, v in counts['sources'].items())}),"
             f" {counts['holdout']} newest held out.", "",
             "Both models are scored with their own temperature (no `[model] temperatures` / `biases` / `scales` from "
             "the bot's config: those are fitted for one version). A candidate serves with its own until `feedbackbot "
             "calibrate` is run for it.", "",
             "| suite | serving | candidate | change |", "|---|---|---|---|",
             *[f"| {n} | {a:.3f} | {b:.3f} | {b - a:+.3f} |" for n, (a, b) in suites.items()], "",
             "![serving vs candidate](retrain_report.png)", ""]
    calibration = calibration or {}
    if calibration.get("serving") is not None and calibration.get("candidate") is not None:
        lines += [f"Calibration (the recipe's test split, ECE after temperature; lower is better): "
                  f"{calibration['serving']:.3f} -> {calibration['candidate']:.3f}.", ""]
    if "serving_replies" in held:
        lines += [f"Replies the policy would give on the held-out new labels: serving "
                  f"{_replies(held['serving_replies'])}; candidate {_replies(held['candidate_replies'])}.", ""]
    lines += [f"Held-out new labels whose predicted label changed ({len(held['changed'])}):", "",
              "| text | label | serving | candidate |", "|---|---|---|---|",
              *[f"| {c['text'][:80].replace('|', '/')} | {c['label']} | {c['serving']} | {c['candidate']}"
                f"{' ✓' if c['better'] else ''} |" for c in held["changed"][:50]]]
    path = out / "retrain_report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def retrain(store: Store, serving_dir: Path, out: Path, bot_config, holdout_days: float = 7.0,
            include_model: bool = False, epochs: int | None = None, log=print) -> dict:
    """Collect, fine-tune, compare; returns the comparison (also written to OUT/retrain_report.md)."""
    from finetune.pipeline import run

    from .core import load_classifier, without_business_calibration
    from .registry import evaluate

    out = Path(out)
    counts = collect_labels(store, out, holdout_days, include_model)
    log(f"new labels: {counts['train']} to train on, {counts['holdout']} held out by time")
    meta = run(recipe(Path(serving_dir), out, Path(counts["paths"]["train"]), epochs), log=log)
    # model against model, each with its own temperature: [model] temperatures / biases / scales are fitted for one version
    compared = without_business_calibration(bot_config)
    serving = load_classifier(str(serving_dir), compared, log)
    candidate = load_classifier(str(out / "model"), compared, log)
    serving_meta = read_meta(Path(serving_dir))
    with open(counts["paths"]["holdout"], encoding="utf-8", newline="") as fh:
        held_rows = list(csv.DictReader(fh))
    held = compare_on([r["text"] for r in held_rows], [r["label"] for r in held_rows], serving, candidate,
                      bot_config.policy)
    before, after = evaluate(serving), evaluate(candidate)
    suites = {name: (before[name], after[name]) for name in before if name in after}
    if "test" in serving_meta.get("metrics", {}) and "test" in meta["metrics"]:
        suites["recipe test accuracy"] = (serving_meta["metrics"]["test"]["accuracy"], meta["metrics"]["test"]["accuracy"])
    if held["n"]:
        suites["new labels, newest held out"] = (held["serving"], held["candidate"])
    calibration = {"serving": serving_meta.get("calibration", {}).get("ece_test_after"),
                   "candidate": meta.get("calibration", {}).get("ece_test_after")}
    report = write_report(out, counts, suites, held, serving.version, candidate.version, calibration)
    log(f"report: {report}")
    return {"counts": counts, "suites": suites, "held_out": held, "report": str(report),
            "candidate": candidate.version, "serving": serving.version, "calibration": calibration}
