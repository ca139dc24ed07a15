"""Load and save model directories: safetensors only, never remote code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# torch and transformers are imported inside the loaders: the bot reads metadata and checks directories with this
# module while serving from ONNX Runtime, without PyTorch in the process.

META_FILE = "feedbackbot.json"
SAFE = {"use_safetensors": True, "trust_remote_code": False}


class ModelDirError(RuntimeError):
    """A model directory is missing, incomplete or corrupt."""


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except Exception as exc:
        raise ModelDirError(f"cannot load the tokenizer of {source!r}: {exc}") from None


def load_for_classification(source: str, labels: list[str], keep_layers: int = 0):
    """A base model with a fresh classification head for ``labels`` (the head is new by design, so the
    loader's "newly initialized" report is silenced). ``keep_layers``: only the bottom N transformer layers of the
    base, the layers above dropped (0 = all of them)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    depth = {}
    if keep_layers:
        try:
            layers = AutoConfig.from_pretrained(source, trust_remote_code=False).num_hidden_layers
        except Exception as exc:
            raise ModelDirError(f"cannot read base model {source!r}'s configuration: {exc}") from None
        if not 0 < keep_layers <= layers:
            raise ValueError(f"keep_layers = {keep_layers}: the base {source!r} has {layers} layers, so it must be "
                             f"between 1 and {layers} (0 keeps them all)")
        depth = {"num_hidden_layers": keep_layers}
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)}, ignore_mismatched_sizes=True, **depth, **SAFE)
    except Exception as exc:
        raise ModelDirError(f"cannot load base model {source!r}: {exc}. Offline? Use --base default or a local "
                            "directory with model.safetensors") from None
    finally:
        hf_logging.set_verbosity(previous)


def check_model_dir(path: Path) -> None:
    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(f"model directory {path} does not exist")
    if not (path / "config.json").is_file():
        raise ModelDirError(f"{path} has no config.json: not a model directory")
    if not any(path.glob("*.safetensors")):
        found = ", ".join(p.name for p in path.glob("*.bin")) or "none"
        raise ModelDirError(f"{path} has no .safetensors weights (found other weights: {found}); "
                            "feedbackbot loads safetensors only")


def read_meta(path: Path) -> dict:
    return read_json(Path(path) / META_FILE)


def read_json(path: Path) -> dict:
    """A JSON file of a model directory; {} when it is absent, a clear error when it is corrupt."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"{path} is corrupt: {exc}") from None


def load_model(path: Path, dtype=None):
    """The classification model of a merged model directory, in eval mode (safetensors only; float32 by default)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    check_model_dir(path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=dtype or torch.float32, **SAFE)
    except Exception as exc:
        raise ModelDirError(f"cannot load model from {path}: {exc}") from None
    return model.eval()


def load_model_dir(path: Path, dtype=None):
    """(model in eval mode, tokenizer, feedbackbot meta) from a merged model directory."""
    return load_model(path, dtype), load_tokenizer(str(path)), read_meta(path)


def save_model_dir(path: Path, model, tokenizer, meta: dict, card: str | None = None) -> Path:
    """Write a model directory atomically (temp dir, then rename): weights as safetensors, tokenizer, meta, card."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    write_json(tmp / META_FILE, meta)
    if card is not None:
        (tmp / "README.md").write_text(card)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=float))
    return path
