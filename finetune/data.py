"""Labelled text -> clean, label-mapped, split and tokenised ``datasets`` splits.

Files: CSV, JSONL (or JSON lines), Parquet; anything else is taken as a ``datasets`` hub name. Every bad row
produces a :class:`DataError` that names the file and the 1-based data row (header excluded).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, concatenate_datasets

from .config import DataConfig

TEXT_CANDIDATES = ("text", "review", "sentence", "content", "message")
LABEL_CANDIDATES = ("label", "sentiment", "labels", "class")
SENTIMENT_ORDER = ("negative", "neutral", "positive")
# Textual spellings only: numeric codes (0/1/-1) mean different things in different sets; map them explicitly.
ALIASES = {"neg": "negative", "negative": "negative", "neu": "neutral", "neutral": "neutral",
           "pos": "positive", "positive": "positive"}
FILE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                 ".parquet": "parquet"}

csv.field_size_limit(1 << 30)


class DataError(ValueError):
    """Bad training/evaluation data; the message names the file and row."""


@dataclass
class PreparedData:
    splits: DatasetDict                 # columns: text (str), label (ClassLabel)
    labels: list[str]
    fingerprint: str
    stats: dict = field(default_factory=dict)


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} (byte {exc.start}) is not valid {encoding}; "
                        "pass the file's real encoding (e.g. --encoding latin-1)") from None


def _read_csv(path: Path, encoding: str) -> Dataset:
    text = _decode(path, encoding)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(f"{path}: no header row")
    columns: dict[str, list] = {name: [] for name in reader.fieldnames}
    for row_no, row in enumerate(reader, start=1):
        if None in row:
            raise DataError(f"{path}: row {row_no} has more fields than the header")
        for name in reader.fieldnames:
            columns[name].append(row.get(name))
    if not next(iter(columns.values())):
        raise DataError(f"{path}: header only, no data rows")
    return Dataset.from_dict(columns)


def _read_jsonl(path: Path, encoding: str) -> Dataset:
    text = _decode(path, encoding)
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    else:
        rows = []
        # split on "\n" only: str.splitlines() would also split inside strings holding U+2028 etc.
        for line_no, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: row {line_no} is not valid JSON ({exc.msg})") from None
    for row_no, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {row_no} is not a JSON object")
    if not rows:
        raise DataError(f"{path}: no data rows")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return Dataset.from_dict({k: [row.get(k) for row in rows] for k in keys})


def jsonl_line(obj) -> str:
    """One JSON Lines record: UTF-8 kept readable, but U+2028/U+2029 escaped so no reader splits a record."""
    return json.dumps(obj, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def read_table(source: str, encoding: str = "utf-8", hub_split: str = "train") -> Dataset:
    """Read a file (by suffix) or a hub dataset into a raw ``Dataset``."""
    path = Path(source).expanduser()
    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if path.exists():
        if path.is_dir():
            raise DataError(f"{path} is a directory; pass a CSV, JSONL or Parquet file")
        if kind is None:
            raise DataError(f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet")
        if kind == "csv":
            return _read_csv(path, encoding)
        if kind == "jsonl":
            return _read_jsonl(path, encoding)
        try:
            ds = Dataset.from_parquet(str(path))
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
        if len(ds) == 0:
            raise DataError(f"{path}: no data rows")
        return ds
    if kind is not None or source.startswith((".", "/", "~")):
        raise DataError(f"{source}: no such file")
    try:
        return datasets.load_dataset(source, split=hub_split)
    except Exception as exc:
        raise DataError(f"could not load hub dataset {source!r} (split {hub_split!r}): {exc}") from None


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, source: str) -> str:
    if wanted:
        if wanted not in columns:
            raise DataError(f"{source}: no {what} column {wanted!r}; columns are {', '.join(columns)}")
        return wanted
    lowered = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand in lowered:
            return lowered[cand]
    raise DataError(f"{source}: cannot tell which column is the {what} (tried {', '.join(candidates)}); "
                    f"columns are {', '.join(columns)}; pass --{what}-column")


def _normalise_label(raw, label_map: dict[str, str]) -> str | None:
    if raw is None:
        return None
    key = str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        key = str(int(raw))
    if key in label_map:
        return label_map[key]
    if key.lower() in ALIASES:
        return ALIASES[key.lower()]
    return key.lower() if key else None


def order_labels(names: set[str] | list[str]) -> list[str]:
    names = set(names)
    if names <= set(SENTIMENT_ORDER):
        return [n for n in SENTIMENT_ORDER if n in names]
    return sorted(names)


def _dedupe_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _first_occurrence(seen: set[str]):
    """A batched ``datasets`` filter keeping texts not seen before (``seen`` grows as it goes)."""
    def keep(batch):
        flags = []
        for text in batch["text"]:
            key = _dedupe_key(text)
            flags.append(key not in seen)
            seen.add(key)
        return flags

    return keep


def load_labelled(cfg: DataConfig) -> tuple[Dataset, list[str], dict]:
    """Read, pick columns, map labels, drop empty/duplicate texts, optionally balance and sample."""
    raw = read_table(cfg.path, cfg.encoding, cfg.hub_split)
    text_col = pick_column(raw.column_names, cfg.text_column, TEXT_CANDIDATES, "text", cfg.path)
    label_col = pick_column(raw.column_names, cfg.label_column, LABEL_CANDIDATES, "label", cfg.path)
    label_map = {str(k): str(v) for k, v in cfg.label_map.items()}
    feature = raw.features.get(label_col)
    if isinstance(feature, ClassLabel):  # hub datasets: integer labels with names
        names = feature.names
        raw = raw.map(lambda b: {"__label": [names[i] if i is not None and i >= 0 else None
                                             for i in b[label_col]]}, batched=True)
        label_col = "__label"
    texts, labels, rows = [], [], []
    for row_no, (text, label) in enumerate(zip(raw[text_col], raw[label_col]), start=1):
        name = _normalise_label(label, label_map)
        if name is None:
            raise DataError(f"{cfg.path}: row {row_no} has an empty label")
        texts.append("" if text is None else str(text).strip())
        labels.append(name)
        rows.append(row_no)
    present = set(labels)
    label_set = list(cfg.labels) if cfg.labels else order_labels(present)
    allowed = set(label_set)
    for row_no, name in zip(rows, labels):
        if name not in allowed:
            raise DataError(f"{cfg.path}: row {row_no} has label {name!r}, not in the label set "
                            f"{label_set}; map it with --label-map RAW=NAME or choose --labels")
    stats = {"rows_read": len(texts)}
    ds = Dataset.from_dict({"text": texts, "label": labels, "row": rows})
    ds = ds.filter(lambda b: [bool(t) for t in b["text"]], batched=True)
    stats["dropped_empty"] = stats["rows_read"] - len(ds)
    before = len(ds)
    ds = ds.filter(_first_occurrence(set()), batched=True)
    stats["dropped_duplicates"] = before - len(ds)
    if len(ds) == 0:
        raise DataError(f"{cfg.path}: no usable rows (all texts empty or duplicates)")
    rng = random.Random(cfg.seed)
    if cfg.balance:
        by_class: dict[str, list[int]] = {}
        for i, name in enumerate(ds["label"]):
            by_class.setdefault(name, []).append(i)
        smallest = min(len(v) for v in by_class.values())
        keep = sorted(i for v in by_class.values() for i in rng.sample(v, smallest))
        ds = ds.select(keep)
        stats["balanced_per_class"] = smallest
    if cfg.limit is not None and cfg.limit < len(ds):
        ds = ds.select(sorted(rng.sample(range(len(ds)), cfg.limit)))
        stats["limited_to"] = cfg.limit
    ds = ds.cast_column("label", ClassLabel(names=label_set))
    stats["class_counts"] = {label_set[k]: v for k, v in sorted(Counter(ds["label"]).items())}
    missing = [n for n in label_set if n not in stats["class_counts"]]
    if missing:
        stats["labels_without_rows"] = missing
    return ds, label_set, stats


def fingerprint(cfg: DataConfig, ds: Dataset) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({k: getattr(cfg, k) for k in ("labels", "label_map", "balance", "limit", "seed",
                                                               "val_fraction", "test_fraction")},
                             sort_keys=True, default=str).encode())
    for text, label in zip(ds["text"], ds["label"]):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def split(ds: Dataset, val_fraction: float, test_fraction: float, seed: int) -> DatasetDict:
    """Seeded, stratified train/validation/test split."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError("val_fraction and test_fraction must be in (0, 1) and sum to less than 1")
    counts = Counter(ds["label"])
    stratify = "label" if min(counts.values()) >= 3 else None
    out = {}
    rest = ds
    if test_fraction > 0:
        parts = rest.train_test_split(test_size=test_fraction, seed=seed, stratify_by_column=stratify)
        rest, out["test"] = parts["train"], parts["test"]
    parts = rest.train_test_split(test_size=val_fraction / (1 - test_fraction), seed=seed,
                                  stratify_by_column=stratify)
    out["train"], out["validation"] = parts["train"], parts["test"]
    return DatasetDict({k: out[k] for k in ("train", "validation", "test") if k in out})


def add_extra_training(splits: DatasetDict, cfg: DataConfig, labels: list[str]) -> tuple[DatasetDict, list[dict], str]:
    """Append ``cfg.extra_train`` files to the training split; drop texts already in any split (no leak)."""
    seen = {_dedupe_key(t) for part in splits.values() for t in part["text"]}
    train_parts, report = [splits["train"]], []
    digest = hashlib.sha256()
    for path in cfg.extra_train:
        extra_cfg = dataclasses.replace(cfg, path=path, labels=list(labels), limit=None, balance=False,
                                        extra_train=[])
        extra, _, extra_stats = load_labelled(extra_cfg)
        kept = extra.filter(_first_occurrence(seen), batched=True)
        report.append({"path": path, "rows_read": extra_stats["rows_read"], "added": len(kept),
                       "dropped_overlap": len(extra) - len(kept),
                       "class_counts": dict(Counter(labels[i] for i in kept["label"]))})
        for text, label in zip(kept["text"], kept["label"]):
            digest.update(f"{label}\t{text}\n".encode())
        train_parts.append(kept)
    out = DatasetDict(dict(splits))
    out["train"] = concatenate_datasets(train_parts).shuffle(seed=cfg.seed)
    return out, report, digest.hexdigest()


def prepare(cfg: DataConfig) -> PreparedData:
    """Training data: every file that can reach the training split first passes the eval-only guard."""
    from .dataset_guard import check_trainable  # imports this module: a top-level import would be circular

    for source in [cfg.path, *cfg.extra_train]:
        check_trainable(source)
    ds, labels, stats = load_labelled(cfg)
    splits = split(ds, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    digest = fingerprint(cfg, ds)
    if cfg.extra_train:
        splits, stats["extra_train"], extra_digest = add_extra_training(splits, cfg, labels)
        digest = hashlib.sha256(f"{digest}+{extra_digest}".encode()).hexdigest()
    stats["split_sizes"] = {k: len(v) for k, v in splits.items()}
    return PreparedData(splits=splits, labels=labels, fingerprint=digest, stats=stats)


KEPT_COLUMNS = ("label", "soft")   # soft: a teacher's probabilities per label (finetune.distill)


def tokenize(data: DatasetDict | Dataset, tokenizer, max_length: int, chunk_long: bool = False,
             max_chunks: int = 4, stride: int = 16):
    """Tokenise with ``datasets.map`` (no padding here: batches are padded dynamically by the collator).

    With ``chunk_long`` a text longer than ``max_length`` tokens becomes up to ``max_chunks`` overlapping chunks,
    each with the text's label (a ``text_index`` column says which text a chunk came from), instead of being
    truncated: a long review's verdict is often in its last lines.
    """
    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    def encode_chunks(batch, indices):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length, stride=stride,
                        return_overflowing_tokens=True)
        owner = enc.pop("overflow_to_sample_mapping")
        keep, count = [], {}
        for k, i in enumerate(owner):
            count[i] = count.get(i, 0) + 1
            if count[i] <= max_chunks:
                keep.append(k)
        out = {key: [values[k] for k in keep] for key, values in enc.items()}
        out["label"] = [batch["label"][owner[k]] for k in keep]
        if "soft" in batch:
            out["soft"] = [batch["soft"][owner[k]] for k in keep]
        out["text_index"] = [indices[owner[k]] for k in keep]
        return out

    def one(ds: Dataset) -> Dataset:
        if chunk_long:
            return ds.map(encode_chunks, batched=True, with_indices=True, remove_columns=ds.column_names,
                          features=None)
        return ds.map(encode, batched=True, remove_columns=[c for c in ds.column_names if c not in KEPT_COLUMNS])

    if isinstance(data, DatasetDict):
        return DatasetDict({name: one(ds) for name, ds in data.items()})
    return one(data)
