"""`feedbackbot classify FILE`: score a whole file, length-sorted batches, progress bar."""

from __future__ import annotations

import csv
from pathlib import Path

from tqdm.auto import tqdm

from finetune.data import TEXT_CANDIDATES, DataError, jsonl_line, pick_column, read_table

from .classifier import Classifier


def classify_file(classifier: Classifier, src: Path, dst: Path, text_column: str | None = None,
                  encoding: str = "utf-8") -> int:
    """Write every input row with label, confidence and per-label probabilities. Empty texts get an error
    column instead of a label; no row is dropped."""
    table = read_table(str(src), encoding)
    column = pick_column(table.column_names, text_column, TEXT_CANDIDATES, "text", str(src))
    texts = ["" if t is None else str(t) for t in table[column]]
    order = sorted((i for i, t in enumerate(texts) if t.strip()), key=lambda i: len(texts[i]))
    results: dict[int, tuple[str, dict]] = {}
    size = classifier.batch_size
    with tqdm(total=len(order), desc="classify", unit="msg") as bar:
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            for i, pred in zip(chunk, classifier.predict([texts[i] for i in chunk])):
                results[i] = (pred.label, pred.probabilities)
            bar.update(len(chunk))
    dst = Path(dst)
    suffix = dst.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise DataError(f"{dst}: output must end in .csv or .jsonl")
    rows = table.to_list()
    tmp = dst.with_name(dst.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        prob_cols = [f"p_{name}" for name in classifier.labels]
        writer = None
        for i, row in enumerate(rows):
            label, probs = results.get(i, (None, None))
            out = {**row, "label_predicted": label,
                   "confidence": max(probs.values()) if probs else None,
                   **{f"p_{k}": v for k, v in (probs or {}).items()},
                   "error": None if probs else "empty text"}
            if suffix == ".jsonl":
                fh.write(jsonl_line(out))
            else:
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=[*row.keys(), "label_predicted", "confidence",
                                                             *prob_cols, "error"])
                    writer.writeheader()
                writer.writerow(out)
    tmp.replace(dst)
    return len(rows)
