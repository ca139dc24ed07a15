"""The held-out behaviour suite (``data/behaviour/*.jsonl``): CheckList-style cases written by hand.

Accuracy on a seeded split of the training corpus says how well a model fits *that* corpus; it says little about
negation, "but" clauses, emoji, typos, bank or clinic vocabulary, or another language. Each suite row is a
realistic customer message with its label, the capability it probes, its language and domain:
``{"text", "label", "capability", "language", "domain"}``. ``set_aside.jsonl`` lists messages judged too
ambiguous to label (with why) and is never scored.

The suite is held-out truth: nothing generated (see ``finetune.augment``) or trained on may contain its texts;
:func:`overlap_with` checks training files for them.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .data import FILE_SUFFIXES, SENTIMENT_ORDER, TEXT_CANDIDATES, DataError, _dedupe_key, pick_column, read_table

SUITE_DIR = Path(__file__).resolve().parents[1] / "data" / "behaviour"
SET_ASIDE = "set_aside.jsonl"
FIELDS = ("text", "label", "capability", "language", "domain")

PredictFn = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class Case:
    text: str
    label: str
    capability: str
    language: str
    domain: str


def load_suite(directory: Path = SUITE_DIR) -> list[Case]:
    """Every scored case, file by file in name order; a malformed row is a :class:`DataError` naming file:line."""
    files = sorted(p for p in Path(directory).glob("*.jsonl") if p.name != SET_ASIDE)
    if not files:
        raise DataError(f"{directory}: no behaviour suite files (*.jsonl)")
    cases = []
    for path in files:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or set(row) != set(FIELDS):
                raise DataError(f"{path}:{line_no}: a case has exactly the fields {', '.join(FIELDS)}")
            if not all(isinstance(row[f], str) and row[f].strip() for f in FIELDS):
                raise DataError(f"{path}:{line_no}: every field must be a non-empty string")
            if row["label"] not in SENTIMENT_ORDER:
                raise DataError(f"{path}:{line_no}: label {row['label']!r} is not one of {SENTIMENT_ORDER}")
            cases.append(Case(**{f: row[f].strip() for f in FIELDS}))
    return cases


def problems(cases: Sequence[Case], min_per_capability: int = 40, min_per_language: int = 15) -> list[str]:
    """What makes the suite unfit to stand for the real world: thin capabilities or languages, duplicates,
    a capability whose labels are all one class (a constant predictor would ace it). Empty list = fit."""
    found = []
    english = Counter(c.capability for c in cases if c.language == "en")
    for capability, n in sorted(Counter(c.capability for c in cases).items()):
        if capability != "multilingual" and english[capability] < min_per_capability:
            found.append(f"capability {capability}: {english[capability]} English cases < {min_per_capability}")
    for language, n in sorted(Counter(c.language for c in cases).items()):
        if n < min_per_language:
            found.append(f"language {language}: {n} cases < {min_per_language}")
    for group, rows in _groups(cases, lambda c: c.capability).items():
        shares = Counter(c.label for c in rows)
        if len(shares) < 3 or max(shares.values()) > 0.6 * len(rows):
            found.append(f"capability {group}: labels unbalanced {dict(shares)}")
    keys = Counter(_dedupe_key(c.text) for c in cases)
    found += [f"duplicate text: {key!r}" for key, n in keys.items() if n > 1]
    return found


def _groups(cases: Iterable[Case], key: Callable[[Case], str]) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        out[key(case)].append(case)
    return dict(sorted(out.items()))


def _accuracy(rows: list[tuple[Case, str]]) -> dict:
    correct = sum(case.label == got for case, got in rows)
    by_label = {}
    for label in SENTIMENT_ORDER:
        of_label = [(c, g) for c, g in rows if c.label == label]
        if of_label:
            by_label[label] = round(sum(c.label == g for c, g in of_label) / len(of_label), 4)
    return {"n": len(rows), "accuracy": round(correct / len(rows), 4), "recall_by_label": by_label}


def score_suite(predict_fn: PredictFn, cases: Sequence[Case] | None = None,
                labels: Sequence[str] = SENTIMENT_ORDER) -> dict:
    """Accuracy overall, per capability and per language (with per-label recall), plus every miss.

    ``labels``: what the model can answer; cases whose truth lies outside it (neutral, for a binary model) are
    skipped and counted rather than scored as certain misses.
    """
    cases = list(cases) if cases is not None else load_suite()
    scored = [c for c in cases if c.label in labels]
    if not scored:
        raise DataError(f"no suite case has a label in {list(labels)}")
    predictions = list(predict_fn([c.text for c in scored]))
    if len(predictions) != len(scored):
        raise DataError(f"predict_fn returned {len(predictions)} labels for {len(scored)} texts")
    unknown = sorted({p for p in predictions if p not in labels})
    if unknown:
        raise DataError(f"predict_fn returned labels {unknown} outside {list(labels)}")
    pairs = list(zip(scored, predictions))
    return {
        **_accuracy(pairs),
        "skipped_unsupported_label": len(cases) - len(scored),
        "by_capability": {k: _accuracy([(c, g) for c, g in pairs if c.capability == k])
                          for k in _groups(scored, lambda c: c.capability)},
        "by_language": {k: _accuracy([(c, g) for c, g in pairs if c.language == k])
                        for k in _groups(scored, lambda c: c.language)},
        "misses": [{"text": c.text, "label": c.label, "predicted": g, "capability": c.capability,
                    "language": c.language} for c, g in pairs if c.label != g],
    }


def _texts(path: Path) -> Iterable[str]:
    if FILE_SUFFIXES.get(path.suffix.lower()) == "csv":
        csv.field_size_limit(1 << 30)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            column = pick_column(list(reader.fieldnames or []), None, TEXT_CANDIDATES, "text", str(path))
            for row in reader:
                yield row[column] or ""
        return
    table = read_table(str(path))
    column = pick_column(table.column_names, None, TEXT_CANDIDATES, "text", str(path))
    yield from (str(t) for t in table[column] if t is not None)


def word_trigrams(text: str) -> set[tuple[str, ...]]:
    """The word 3-grams of a text (case-folded, commas and full stops dropped): what the generator may share with
    the suite only rarely (tests/test_augment.py) and what bench/suite_overlap.py sets aside."""
    words = _dedupe_key(text).replace(",", " ").replace(".", " ").split()
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def overlap_with(paths: Iterable[str | Path], cases: Sequence[Case] | None = None) -> dict[str, list[str]]:
    """Suite texts found in each file (same case-folded, whitespace-normalised key the loader dedupes on).

    Returns ``{path: [suite texts it contains]}`` for the files that contain any; empty dict = no leak.
    """
    cases = list(cases) if cases is not None else load_suite()
    suite = {_dedupe_key(c.text): c.text for c in cases}
    found = {}
    for path in map(Path, paths):
        hits = sorted({suite[key] for key in map(_dedupe_key, _texts(path)) if key in suite})
        if hits:
            found[str(path)] = hits
    return found
