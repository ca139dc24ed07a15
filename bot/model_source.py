"""Which model directory the bot runs: a merged directory, or an adapter merged once into the cache.

``default`` is the adapter shipped inside this package (``bot/default_model/``): at first start it is merged
onto the embedded base with the same ``merge_and_unload`` path as ``feedbackbot finetune``, verified, and cached
under the user cache dir; later starts load the cache.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import shutil
from pathlib import Path

from finetune.model_dir import META_FILE, ModelDirError, check_model_dir, read_meta, write_json
from finetune.paths import cache_root

VERIFY_TEXTS = ["the delivery was late again", "love the new app", "my flight got cancelled and nobody helped",
                "thanks for the quick response!", "what time does the gate open?", "ok", "worst service ever",
                "the crew was wonderful", "is wifi available on this flight", "I waited 3 hours on hold"]


def shipped_adapter_dir() -> Path:
    return Path(str(importlib.resources.files("bot") / "default_model"))


def _adapter_digest(adapter_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", META_FILE):
        digest.update((adapter_dir / name).read_bytes())
    return digest.hexdigest()[:16]


def merge_adapter(adapter_dir: Path, target: Path, log=print) -> Path:
    """Merge ``adapter_dir`` (with its feedbackbot.json) onto its recorded base and save a model dir at ``target``."""
    # PyTorch, PEFT and the training helpers load only here (first start): a cached merged model serves without them.
    from peft import PeftModel

    from finetune.base import base_spec, resolve_base
    from finetune.merge import merge_and_verify
    from finetune.model_dir import load_for_classification, load_tokenizer, save_model_dir
    from finetune.train import make_loader

    meta = read_meta(adapter_dir)
    if not (adapter_dir / "adapter_model.safetensors").is_file() or not meta.get("labels"):
        raise ModelDirError(f"{adapter_dir} is not a feedbackbot adapter directory "
                            "(needs adapter_config.json, adapter_model.safetensors, feedbackbot.json)")
    base = resolve_base(base_spec(meta.get("base", {})))
    log(f"merging adapter {adapter_dir} onto {base.source} ...")
    tokenizer = load_tokenizer(base.source)
    # an adapter trained on the base's bottom layers only (finetune keep_layers) merges onto that same depth
    keep_layers = int(meta.get("training", {}).get("keep_layers", 0))
    model = PeftModel.from_pretrained(load_for_classification(base.source, meta["labels"], keep_layers),
                                      str(adapter_dir)).eval()
    encoded = [dict(tokenizer(t, truncation=True, max_length=128), labels=0) for t in VERIFY_TEXTS]
    merged, diff, _, _ = merge_and_verify(model, make_loader(encoded, tokenizer, 16), meta.get("merge", {}).get("tolerance", 1e-4))
    return save_model_dir(target, merged, tokenizer,
                          {**meta, "merged_at_load": {"from": str(adapter_dir), "max_abs_logit_diff": diff}})


def resolve_model_dir(spec: str, log=print) -> Path:
    if spec in ("", "default"):
        adapter = shipped_adapter_dir()
        if not (adapter / "adapter_model.safetensors").is_file():
            raise ModelDirError(f"no default model is shipped in {adapter}; pass --model with a directory "
                                "from `feedbackbot finetune` (OUT/model)")
        target = cache_root() / "models" / f"default-{_adapter_digest(adapter)}"
        if not (target / META_FILE).is_file():
            merge_adapter(adapter, target, log)
        return target
    path = Path(spec).expanduser()
    if (path / "adapter_config.json").is_file():
        target = cache_root() / "models" / f"adapter-{_adapter_digest(path)}"
        if not (target / META_FILE).is_file():
            merge_adapter(path, target, log)
        return target
    check_model_dir(path)
    return path


SHIPPED_FILES = ("adapter_config.json", "adapter_model.safetensors", META_FILE)


def ship_adapter(run_dir: Path, dest: Path | None = None) -> Path:
    """Copy a finetune run's adapter (+ labels, temperature, thresholds, metrics) into the package as the default.

    The adapter's recorded base path is machine-specific; it is replaced by a description, since the bot
    resolves the base from feedbackbot.json ("embedded" -> the packaged MiniLM in DistilBERT form; a named base
    such as e5-multilingual -> rebuilt from its PyPI package, see finetune.base.NAMED_BASES).
    """
    import json

    from finetune.model_card import render_card

    src = Path(run_dir) / "adapter"
    dest = Path(dest) if dest else shipped_adapter_dir()
    meta = read_meta(src)
    base = meta.get("base", {})
    if base.get("kind") not in ("embedded", "named"):
        raise ModelDirError(f"{src} was not trained on a named base (minilm, e5-multilingual); the shipped default "
                            "must be, so any machine can rebuild its base offline from PyPI packages")
    dest.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        shutil.copyfile(src / name, dest / name)
    config = json.loads((dest / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = (
        "feedbackbot:embedded (all-MiniLM-L6-v2 in DistilBERT form)" if base.get("kind") == "embedded"
        else f"feedbackbot:{base.get('name', 'named')} ({base.get('description', 'named base')[:80]})")
    (dest / "adapter_config.json").write_text(json.dumps(config, indent=2))
    meta["base"] = {k: v for k, v in meta["base"].items() if k not in ("source", "converted_from", "path")}
    for machine_specific in ("sweep_config", "sweep_seconds"):  # a sweep trial records its local paths
        meta.pop(machine_specific, None)
    write_json(dest / META_FILE, meta)
    (dest / "README.md").write_text(render_card(meta), encoding="utf-8")  # the card, from the shipped metadata
    return dest


if __name__ == "__main__":  # python -m bot.model_source ship RUN_DIR
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "ship":
        raise SystemExit("usage: python -m bot.model_source ship RUN_DIR")
    print(ship_adapter(Path(sys.argv[2])))
