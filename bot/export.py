"""`feedbackbot export`: the stored feedback as CSV/JSONL, including a labelled file for the next fine-tune."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from finetune.data import jsonl_line

from .store import Store

FULL_COLUMNS = ["id", "conversation_id", "channel", "created_at", "text", "label", "confidence", "band",
                "template", "reply", "ticket", "correction", "rating", "latency_ms", "model_version", "probabilities"]


def export(store: Store, out: Path, labelled: bool = False) -> int:
    """Write all messages to ``out`` (.csv or .jsonl). ``labelled``: columns text,label,source where a
    customer's correction overrides the model's prediction — `feedbackbot finetune --data` reads it as is."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ValueError(f"{out}: export file must end in .csv or .jsonl")
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = None
        if suffix == ".csv":
            writer = csv.DictWriter(fh, fieldnames=["text", "label", "source"] if labelled else FULL_COLUMNS)
            writer.writeheader()
        for row in store.iter_messages():
            if labelled:
                if row["label"] is None and row["correction"] is None:
                    continue
                row = {"text": row["text"], "label": row["correction"] or row["label"],
                       "source": "correction" if row["correction"] else "prediction"}
            elif writer is not None:
                row = {**row, "probabilities": json.dumps(row["probabilities"])}
            if writer is None:
                fh.write(jsonl_line(row))
            else:
                writer.writerow(row)
            n += 1
    tmp.replace(out)
    return n
