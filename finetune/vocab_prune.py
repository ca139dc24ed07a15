"""Prune a unigram model's vocabulary to the pieces a corpus actually uses.

E5-small's 250k-piece table is 96 M of its 117.5 M parameters (366 MB of 448 MB in float32), yet one
deployment serves a handful of languages. Keeping the special tokens plus every piece that occurs when
tokenising a corpus shrinks the embedding matrix and the tokenizer; rows and Unigram entries are re-indexed
together, in the original order, so the specials keep their relative order.

Why this is safe on the corpus itself: removing pieces that no best segmentation of the corpus uses cannot
change those segmentations (Viterbi's best path is still there and nothing better appeared), so the pruned
model's hidden states on corpus text equal the original's. Unseen text may segment differently or hit
``<unk>`` where its characters were never seen: accuracy per language must be measured, not assumed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterable

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


class PruneError(ValueError):
    """The directory is not a unigram-tokenizer model this pruner understands."""


def used_piece_ids(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 1024) -> set[int]:
    ids: set[int] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            ids.update(i for enc in tokenizer.encode_batch(chunk) for i in enc.ids)
            chunk = []
    if chunk:
        ids.update(i for enc in tokenizer.encode_batch(chunk) for i in enc.ids)
    return ids


def _remap_tokenizer(spec: dict, old_to_new: dict[int, int]) -> dict:
    model = spec["model"]
    model["vocab"] = [model["vocab"][old] for old in sorted(old_to_new)]
    model["unk_id"] = old_to_new[model["unk_id"]]
    for token in spec.get("added_tokens", []):
        token["id"] = old_to_new[token["id"]]
    post = spec.get("post_processor") or {}
    for entry in (post.get("special_tokens") or {}).values():
        entry["ids"] = [old_to_new[i] for i in entry["ids"]]
    return spec


def prune_vocabulary(model_dir: Path, texts: Iterable[str], out_dir: Path) -> dict:
    """Write a copy of ``model_dir`` to ``out_dir`` keeping specials + pieces used by ``texts``.

    The input prefix recorded in PROVENANCE.json (E5's ``query: ``) is tokenised too, so its pieces survive.
    Returns a small report (pieces before/after, the special tokens' ids in the pruned model).
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    spec = json.loads((model_dir / "tokenizer.json").read_text())
    if spec["model"].get("type") != "Unigram":
        raise PruneError(f"{model_dir}/tokenizer.json is a {spec['model'].get('type')} model; only Unigram is pruned")
    config = json.loads((model_dir / "config.json").read_text())
    provenance = json.loads((model_dir / "PROVENANCE.json").read_text()) \
        if (model_dir / "PROVENANCE.json").is_file() else {}
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    prefix = provenance.get("input_prefix", "")
    keep = used_piece_ids(tokenizer, texts) | used_piece_ids(tokenizer, [prefix] if prefix else [])
    keep |= {t["id"] for t in spec.get("added_tokens", [])} | {spec["model"]["unk_id"]}
    old_to_new = {old: new for new, old in enumerate(sorted(keep))}

    state = load_file(str(model_dir / "model.safetensors"))
    if WORD_EMBEDDINGS not in state:
        raise PruneError(f"{model_dir}/model.safetensors has no {WORD_EMBEDDINGS}")
    state[WORD_EMBEDDINGS] = state[WORD_EMBEDDINGS][torch.tensor(sorted(keep))].contiguous()
    config["vocab_size"] = len(keep)
    if config.get("pad_token_id") is not None:
        config["pad_token_id"] = old_to_new[config["pad_token_id"]]

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, tmp / name)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    (tmp / "tokenizer.json").write_text(json.dumps(_remap_tokenizer(spec, old_to_new), ensure_ascii=False))
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    report = {"pieces_before": len(tokenizer.get_vocab()), "pieces_after": len(keep),
              "special_ids_after": {t["content"]: t["id"] for t in spec.get("added_tokens", [])}}
    provenance["vocabulary_pruned"] = {**report, "pruned_from": str(model_dir)}
    (tmp / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return report
