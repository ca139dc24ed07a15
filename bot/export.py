"""`feedbackbot export`: the stored feedback as CSV/JSONL, including a labelled file for the next fine-tune.

The labelled file holds only labels someone really gave, with their provenance in ``source``:
``operator`` (wins), ``customer_button``, ``customer_text`` — the latest human correction of each message. The
model's own predictions are training data only when asked for (``include_model``), and then only its confident
("high" band) ones unless ``min_confidence`` says otherwise; they are marked ``model``. Answer turns ("👎 Bad"),
greetings, questions and the like, and messages the customer withdrew are never training data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from finetune.data import jsonl_line

from .policy import HIGH, HUMAN_SOURCES, MODEL
from .redact import redact_record
from .store import Store

FULL_COLUMNS = ["id", "conversation_id", "channel", "kind", "language", "created_at", "text", "label", "label_source",
                "confidence", "band", "template", "reply", "ticket", "correction", "correction_source", "rating",
                "withdrawn", "latency_ms", "model_version", "probabilities", "clauses", "redacted"]
LABELLED_COLUMNS = ["text", "label", "source"]


def labelled_row(row: dict, include_model: bool = False, min_confidence: float | None = None) -> dict | None:
    """The training row for one stored message, or None when it carries no label we trust."""
    if row["withdrawn"] or row["kind"] not in (None, "feedback"):   # answers, greetings, questions: not feedback
        return None
    if row["correction"] is not None and row["correction_source"] in HUMAN_SOURCES:
        return {"text": row["text"], "label": row["correction"], "source": row["correction_source"]}
    if include_model and row["label"] is not None and row["label_source"] == MODEL:
        confident = (row["band"] == HIGH if min_confidence is None
                     else (row["confidence"] or 0.0) >= min_confidence)
        if confident:
            return {"text": row["text"], "label": row["label"], "source": MODEL}
    return None


def export(store: Store, out: Path, labelled: bool = False, include_model: bool = False,
           min_confidence: float | None = None, redact: bool = False) -> int:
    """Write messages to ``out`` (.csv or .jsonl): all of them, or (``labelled``) text,label,source rows that
    `feedbackbot finetune --data` reads as is. ``redact`` ([store] redact) takes personal data out of text, reply
    and clauses on the way out too, so rows stored before redaction was turned on leave redacted as well."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ValueError(f"{out}: export file must end in .csv or .jsonl")
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = None
        if suffix == ".csv":
            writer = csv.DictWriter(fh, fieldnames=LABELLED_COLUMNS if labelled else FULL_COLUMNS)
            writer.writeheader()
        for row in store.iter_messages():
            if redact:
                text, reply, clauses, changed = redact_record(row["text"], row["reply"], row["clauses"])
                row = {**row, "text": text, "reply": reply, "clauses": clauses,
                       "redacted": 1 if changed or row["redacted"] else 0}
            if labelled:
                row = labelled_row(row, include_model, min_confidence)
                if row is None:
                    continue
            elif writer is not None:
                row = {**row, "probabilities": json.dumps(row["probabilities"]),
                       "clauses": json.dumps(row["clauses"]) if row["clauses"] else ""}
            if writer is None:
                fh.write(jsonl_line(row))
            else:
                writer.writerow(row)
            n += 1
    tmp.replace(out)
    return n

