"""The rows a recipe trains on, filtered by language and source set: the data of a teacher for that recipe's student.

A teacher that writes soft labels for a student must never have trained on what the student is chosen or measured
on. Taking its rows from the student recipe's own *training* split (the same seeded split `feedbackbot finetune`
draws) guarantees that: the student's validation and test rows, and every held-out evaluation set, stay unseen by
both. The filter keeps the rows the teacher can read (MPNet: English) and can afford (no 128-token review chunks).

    feedbackbot data teacher-subset --config finetune/recipes/multilingual-aug5.toml \
        --language en --exclude-dataset imdb --out teacher_en.csv
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from pathlib import Path

from .config import FinetuneConfig
from .data import DataError, prepare


def training_rows(cfg: FinetuneConfig, languages: list[str] | None = None,
                  exclude_datasets: list[str] | None = None, all_splits: bool = False) -> list[dict]:
    """The source rows (as read from ``cfg.data.path``, all columns) of the recipe's training split whose
    ``language`` is in ``languages`` (all when None) and whose ``dataset`` is not in ``exclude_datasets``.
    ``all_splits``: every row of the file that passes the filter (the texts a teacher writes soft labels for, once
    it has trained on the training split's)."""
    path = Path(cfg.data.path).expanduser()
    if cfg.data.extra_train:
        raise DataError("teacher-subset reads one mix file: a recipe with extra_train files is not supported")
    with path.open(encoding=cfg.data.encoding, newline="") as fh:
        source = list(csv.DictReader(fh))
    wanted = [c for c, asked in (("language", languages), ("dataset", exclude_datasets)) if asked]
    missing = [c for c in wanted if source and c not in source[0]]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)} column to filter on (a `feedbackbot data mix` file has both)")
    numbers = (range(1, len(source) + 1) if all_splits
               else prepare(dataclasses.replace(cfg.data, path=str(path))).splits["train"]["row"])
    keep_languages = set(languages) if languages else None
    drop = set(exclude_datasets or ())
    rows = []
    for row_no in numbers:             # 1-based data row of the file (finetune.data.load_labelled)
        row = source[row_no - 1]
        if keep_languages is not None and row["language"] not in keep_languages:
            continue
        if row.get("dataset") in drop:
            continue
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows left after the filter (languages {languages}, "
                        f"excluding {exclude_datasets})")
    return rows


def write_subset(rows: list[dict], out: str | Path) -> dict:
    """Write ``rows`` as CSV (their own columns, in order) and return counts by set and label."""
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)
    counts = Counter((r.get("dataset", ""), r.get("label", "")) for r in rows)
    return {"out": str(out), "rows": len(rows),
            "by_set_and_label": {f"{d}/{label}": n for (d, label), n in sorted(counts.items())}}
