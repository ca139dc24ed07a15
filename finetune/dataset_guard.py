"""Keep eval-only sets out of training, however the file reaches the loader.

``feedbackbot data prepare`` marks what it writes in two ways, and :func:`check_trainable` (called by
``finetune.data.prepare`` for ``--data`` and every ``--extra-train`` file) checks three:

1. the sidecar ``NAME.meta.json`` beside the file (role, reason, sha256): a file whose sidecar says eval-only is
   refused, and a file that no longer matches its sidecar's sha256 is refused too (its role can't be trusted);
2. the sha256 of every eval-only file prepare wrote into the cache: a renamed copy without its sidecar is refused;
3. the ``dataset`` column every prepared CSV carries: a subset, a concatenation or an edited copy still names its
   source in every row, so a file with any row from an eval-only set is refused.

User files (no sidecar, no ``dataset`` column, unknown digest) pass: the guard is about the registry's sets.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .data import FILE_SUFFIXES, DataError, read_table
from .dataset_registry import EVAL_ONLY, role_of
from .paths import cache_root, sha256_file

SIDECAR_SUFFIX = ".meta.json"
DATASET_COLUMN = "dataset"


def sidecar_path(path: Path) -> Path:
    """``olist_pt.csv`` -> ``olist_pt.meta.json``; ``olist_pt.heldout.csv`` -> ``olist_pt.heldout.meta.json``."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def write_sidecar(path: Path, meta: dict) -> Path:
    """Record ``meta`` (must hold dataset and role) plus the file's sha256 beside ``path``."""
    side = sidecar_path(path)
    side.write_text(json.dumps({**meta, "file": path.name, "sha256": sha256_file(path)}, indent=2,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    return side


def _read_sidecar(side: Path) -> dict:
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{side}: unreadable dataset sidecar ({exc}); re-run `feedbackbot data prepare`") from None
    if not isinstance(meta, dict) or not {"dataset", "role", "sha256"} <= meta.keys():
        raise DataError(f"{side}: dataset sidecar lacks dataset/role/sha256; re-run `feedbackbot data prepare`")
    return meta


def _refusal(path: Path, dataset: str, reason: str, how: str) -> DataError:
    return DataError(f"{path}: refusing to train on {dataset!r}, an eval-only set ({reason}); identified by {how}. "
                     "Evaluate on it instead (feedbackbot evaluate / bench), never train.")


def _eval_only_digests(dirs: list[Path]) -> dict[str, str]:
    """sha256 -> dataset name for every eval-only file a prepare run recorded in ``dirs``."""
    found = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for side in folder.glob(f"*{SIDECAR_SUFFIX}"):
            meta = _read_sidecar(side)
            if meta["role"] == EVAL_ONLY:
                found[meta["sha256"]] = meta["dataset"]
    return found


def _dataset_values(path: Path) -> set[str]:
    """Distinct values of the ``dataset`` column (empty set when the file has none)."""
    if FILE_SUFFIXES.get(path.suffix.lower()) == "csv":
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            if DATASET_COLUMN not in (reader.fieldnames or []):
                return set()
            return {row[DATASET_COLUMN] for row in reader if row.get(DATASET_COLUMN)}
    table = read_table(str(path))
    if DATASET_COLUMN not in table.column_names:
        return set()
    return {str(v) for v in table[DATASET_COLUMN] if v}


def check_trainable(source: str, registry_dirs: list[Path] | None = None) -> None:
    """Raise :class:`DataError` if ``source`` is (or contains rows of) a set registered eval-only.

    ``registry_dirs``: where prepare's sidecars live (default: ``<cache>/datasets``); the file's own folder is
    always searched too. Hub dataset names (not files) are not checked: prepare never produces one.
    """
    path = Path(source).expanduser()
    if not path.is_file():
        return
    digest = sha256_file(path)
    side = sidecar_path(path)
    if side.exists():
        meta = _read_sidecar(side)
        if meta["sha256"] != digest:
            raise DataError(f"{path}: the file changed since `feedbackbot data prepare` wrote it (sha256 differs "
                            f"from {side.name}), so its role can't be trusted; re-run prepare to restore it, or save your "
                            "edit under another name (its dataset column still identifies eval-only rows)")
        if meta["role"] == EVAL_ONLY:
            raise _refusal(path, meta["dataset"], meta.get("reason", "registered eval-only"), side.name)
    dirs = [path.parent] + (registry_dirs if registry_dirs is not None else [cache_root() / "datasets"])
    copied_from = _eval_only_digests(dirs).get(digest)
    if copied_from:
        found = role_of(copied_from)
        raise _refusal(path, copied_from, found[1] if found else "registered eval-only",
                       "its sha256, identical to the prepared file")
    for value in sorted(_dataset_values(path)):
        found = role_of(value)
        if found and found[0] == EVAL_ONLY:
            raise _refusal(path, value, found[1], f"rows whose {DATASET_COLUMN!r} column says {value!r}")
