"""Teacher -> soft labels (a small file) -> student: distillation that survives the GPU machine going away.

Where a session has a GPU, a big teacher (all-mpnet-base-v2, English, 110 M: `--base mpnet`) is fine-tuned with the
ordinary `feedbackbot finetune` and then writes its probabilities for labelled *and* unlabelled texts with
`feedbackbot soft-labels --model TEACHER/model --texts FILE --out soft.jsonl`: one JSON line per text,

    {"text": "...", "probabilities": {"negative": 0.91, "neutral": 0.07, "positive": 0.02}, "label": "negative"}

(``label`` is the gold label where the text had one, else absent). 10k texts are ~1.5 MB: small enough to bring
back from the GPU machine. Any later session, on 2 CPU cores, trains the served student from that file:
`feedbackbot distill --soft-labels soft.jsonl [--base e5-multilingual] [--out runs/student]`: KL divergence to
the teacher at temperature T (finetune.train.distillation_loss), LoRA, calibration and the merge exactly as
`finetune`. Validation and test are split off the file (seeded, stratified by the teacher's argmax) and scored
against the gold label where there is one, else the teacher's argmax; the model card records the teacher.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, Sequence, Value

from .config import FinetuneConfig
from .data import DataError, PreparedData, _dedupe_key, order_labels, split

SOFT_FORMAT = "feedbackbot-soft-labels/1"


def read_soft_labels(path: str | Path) -> tuple[list[str], np.ndarray, list[str | None], list[str]]:
    """(texts, probabilities [n, labels], gold labels or None, label names) from a soft-label JSONL file.

    Every malformed line is an error naming file:line; duplicate texts keep their first line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such soft-label file")
    texts, rows, gold, names = [], [], [], None
    seen: set[str] = set()
    for line_no, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):  # not splitlines: U+2028 is text
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
        text, probs = (row.get("text"), row.get("probabilities")) if isinstance(row, dict) else (None, None)
        if not isinstance(text, str) or not text.strip() or not isinstance(probs, dict) or not probs:
            raise DataError(f"{where}: each line needs a non-empty \"text\" and a \"probabilities\" object")
        if names is None:
            names = order_labels(list(probs))
        if set(probs) != set(names):
            raise DataError(f"{where}: labels {sorted(probs)} differ from the file's first line {names}")
        values = [probs[n] for n in names]
        if not all(isinstance(v, (int, float)) and v >= 0 and math.isfinite(v) for v in values) or \
                abs(sum(values) - 1) > 1e-3:
            raise DataError(f"{where}: probabilities must be non-negative numbers summing to 1")
        label = row.get("label")
        if label is not None and label not in names:
            raise DataError(f"{where}: label {label!r} is not one of {names}")
        key = _dedupe_key(text)
        if key in seen:
            continue
        seen.add(key)
        texts.append(text.strip())
        rows.append(values)
        gold.append(label)
    if not texts:
        raise DataError(f"{path}: no soft labels")
    return texts, np.asarray(rows, dtype=np.float32), gold, names


def soft_label_line(text: str, names: list[str], probabilities, label: str | None) -> str:
    """One line of a soft-label file: the text, its probabilities (5 decimals) and its gold label where known."""
    row = {"text": text, "probabilities": {n: round(float(v), 5) for n, v in zip(names, probabilities)}}
    if label is not None:
        row["label"] = label
    return json.dumps(row, ensure_ascii=False) + "\n"


def combine_soft_labels(paths: list[str | Path], out: str | Path) -> dict:
    """One soft-label file from several, a text taking the probabilities of the first file that has it: a teacher
    for the texts it reads (an English teacher for English rows) in front of another for the rest. Every file must
    have the same labels. The sidecar lists each file, its teacher and how many texts it supplied."""
    out = Path(out).expanduser()
    if len(paths) < 2:
        raise DataError("combining soft labels needs at least two files")
    names, seen, supplied = None, set(), []
    tmp = out.with_suffix(out.suffix + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as fh:
        for path in paths:
            texts, probs, gold, labels = read_soft_labels(path)
            if names is None:
                names = labels
            if labels != names:
                raise DataError(f"{path}: labels {labels} differ from {paths[0]}'s {names}")
            count = 0
            for text, p, g in zip(texts, probs, gold):
                key = _dedupe_key(text)
                if key in seen:
                    continue
                seen.add(key)
                fh.write(soft_label_line(text, names, p / p.sum(), g))
                count += 1
            sidecar = Path(path).expanduser().with_suffix(".teacher.json")
            supplied.append({"file": str(path), "texts": count,
                             "teacher": json.loads(sidecar.read_text()) if sidecar.is_file() else None})
    tmp.replace(out)
    summary = {"format": SOFT_FORMAT, "combined": supplied, "texts": len(seen)}
    out.with_suffix(".teacher.json").write_text(json.dumps(summary, indent=2))
    return summary


def soft_prepared(path: str | Path, cfg: FinetuneConfig) -> PreparedData:
    """The file as train/validation/test splits with a ``soft`` column; ``label`` = gold, else teacher argmax."""
    texts, probs, gold, names = read_soft_labels(path)
    labels = [g if g is not None else names[int(p.argmax())] for g, p in zip(gold, probs)]
    ds = Dataset.from_dict({"text": texts, "label": labels, "soft": probs.tolist()})
    ds = ds.cast_column("label", ClassLabel(names=names)).cast_column("soft", Sequence(Value("float32")))
    splits = split(ds, cfg.data.val_fraction, cfg.data.test_fraction, cfg.data.seed)
    digest = hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()
    stats = {"soft_label_file": str(path), "rows": len(texts), "with_gold_label": sum(g is not None for g in gold),
             "split_sizes": {k: len(v) for k, v in splits.items()}}
    return PreparedData(splits=splits, labels=names, fingerprint=digest, stats=stats)


def distill(cfg: FinetuneConfig, soft_labels: str | Path, log=print) -> dict:
    from .pipeline import run

    prepared = soft_prepared(soft_labels, cfg)
    log(f"distilling from {soft_labels}: {prepared.stats}")
    cfg.data.path = str(soft_labels)
    teacher = {}
    sidecar = Path(soft_labels).expanduser().with_suffix(".teacher.json")
    if sidecar.is_file():
        teacher = json.loads(sidecar.read_text())
    return run(cfg, log=log, prepared=prepared,
               extra_meta={"distillation": {"soft_labels": str(soft_labels), "sha256": prepared.fingerprint,
                                            "temperature": cfg.train.distill_temperature,
                                            "alpha": cfg.train.distill_alpha, "teacher": teacher}})


def write_soft_labels(model_dir: str | Path, texts: list[str], out: str | Path, gold: list[str | None] | None = None,
                      batch_size: int = 64, max_length: int = 128, backend: str = "torch") -> Path:
    """The teacher's calibrated probabilities for ``texts`` (with their gold labels where known), as JSONL, plus a
    ``.teacher.json`` sidecar naming the teacher (its version, base and validation metrics).

    ``backend``: ``torch`` (on a GPU where there is one) or ``onnx``, the bot's served float ONNX graph (logits
    within 1e-3 of torch; within 0.05 for a 250k-piece vocabulary, whose served table is 8-bit), texts sorted into
    passes of similar length: the fast way on a CPU. Either reads each text's first ``max_length`` tokens."""
    from tqdm.auto import tqdm

    from .calibrate import softmax
    from .model_dir import load_model_dir, read_meta
    from .train import collect_logits, make_loader

    if backend not in ("torch", "onnx"):
        raise ValueError(f"soft labels: unknown backend {backend!r}; choose torch or onnx")
    if backend == "onnx":
        from bot.classifier import Classifier

        clf = Classifier(Path(model_dir), max_length=max_length, batch_size=batch_size, backend="onnx",
                         max_chunks=1, log=lambda *_: None)
        meta, names = read_meta(Path(model_dir)), clf.labels
        logits_of = clf.logits
    else:
        import torch

        model, tokenizer, meta = load_model_dir(model_dir)
        if torch.cuda.is_available():
            model = model.cuda()
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]

        def logits_of(chunk: list[str]):
            # passes of similar length (sorted, then put back in order): a batch pads to its longest text only
            encoded = [dict(tokenizer(t, truncation=True, max_length=max_length), labels=0) for t in chunk]
            order = np.argsort([len(e["input_ids"]) for e in encoded], kind="stable")
            logits = collect_logits(model, make_loader([encoded[i] for i in order], tokenizer, batch_size))[0]
            back = np.empty_like(logits)
            back[order] = logits
            return back
    if gold is not None:
        unknown = sorted({g for g in gold if g is not None and g not in names})
        if unknown:
            raise DataError(f"gold labels {unknown} are not the teacher's labels {names}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temperature = float(meta.get("temperature", 1.0))
    with out.open("w", encoding="utf-8") as fh:
        for start in tqdm(range(0, len(texts), 2048), desc="soft labels"):
            chunk = texts[start:start + 2048]
            for i, p in enumerate(softmax(np.asarray(logits_of(chunk), dtype=np.float64), temperature)):
                fh.write(soft_label_line(chunk[i], names, p, gold[start + i] if gold is not None else None))
    # rounding may leave sums of 1 +- 5e-5: within read_soft_labels' tolerance
    out.with_suffix(".teacher.json").write_text(json.dumps({
        "format": SOFT_FORMAT, "model": str(model_dir), "base": meta.get("base", {}).get("name")
        or meta.get("base", {}).get("id") or meta.get("base", {}).get("kind"), "temperature": temperature,
        "metrics": meta.get("metrics", {}), "data_fingerprint": meta.get("data", {}).get("fingerprint")}, indent=2))
    return out
