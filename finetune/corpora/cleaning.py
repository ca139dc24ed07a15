"""Duplicates and label conflicts, resolved before a set is written, with the counts the prepare report shows.

Two texts are "the same" under the training loader's own key (``finetune.data._dedupe_key``: case-folded,
whitespace-normalised), so what prepare keeps is exactly what the loader would keep: no second, diverging notion
of a duplicate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Literal

from ..data import _dedupe_key

ConflictPolicy = Literal["drop", "first"]


@dataclass
class Read:
    """What a builder got out of an archive, before cleaning."""
    rows: list[tuple[str, str]]                       # (text, label), labels already mapped to names
    rows_read: int                                    # source rows, before any drop
    dropped: dict[str, int] = field(default_factory=dict)   # builder-specific drops, reason -> rows


@dataclass
class Cleaned:
    rows: list[tuple[str, str]]
    duplicates_dropped: int
    label_conflicts_dropped: int       # rows
    conflicting_texts: int             # distinct texts that carried more than one label

    @property
    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(label for _, label in self.rows).items()))


def clean(rows: Iterable[tuple[str, str]], conflicts: ConflictPolicy = "drop") -> Cleaned:
    """Keep one row per text, in first-occurrence order.

    ``conflicts="drop"``: a text seen with two labels is dropped entirely (all its rows): a short "ok" rated both
    1 and 5 stars teaches nothing. ``conflicts="first"``: the first occurrence wins, which is what
    ``finetune.data.load_labelled`` already does; used for the sets whose seeded splits shipped models depend on,
    so the loader sees the very same rows as before.
    """
    rows = list(rows)
    labels_of: dict[str, set[str]] = {}
    for text, label in rows:
        labels_of.setdefault(_dedupe_key(text), set()).add(label)
    conflicted = {key for key, labels in labels_of.items() if len(labels) > 1}
    kept, seen = [], set()
    duplicates = conflict_rows = 0
    first_label: dict[str, str] = {}
    for text, label in rows:
        key = _dedupe_key(text)
        if conflicts == "drop" and key in conflicted:
            conflict_rows += 1
            continue
        if key in seen:
            if first_label[key] == label:
                duplicates += 1
            else:
                conflict_rows += 1
            continue
        seen.add(key)
        first_label[key] = label
        kept.append((text, label))
    return Cleaned(kept, duplicates, conflict_rows, len(conflicted))
