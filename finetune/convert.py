"""Lossless conversion of a BERT encoder checkpoint into the DistilBERT architecture.

DistilBERT is BERT without token-type embeddings and pooler; attention, GELU feed-forward and LayerNorms are
the same. Single-segment inputs always add ``token_type_embeddings[0]``, so that row is folded into every
position embedding. Hidden states then equal BERT's to float precision (tested on the real weights).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from transformers import DistilBertConfig, DistilBertTokenizer

from .paths import sha256_file

_LAYER_MAP = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}


class ConversionError(ValueError):
    """The source checkpoint is not a BERT encoder this converter understands."""


def distilbert_config_from_bert(bert: dict) -> DistilBertConfig:
    if bert.get("model_type") != "bert":
        raise ConversionError(f"expected a BERT config (model_type 'bert'), got {bert.get('model_type')!r}")
    if bert.get("hidden_act", "gelu") != "gelu" or bert.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("only BERT with GELU activations and absolute position embeddings maps onto DistilBERT")
    if abs(bert.get("layer_norm_eps", 1e-12) - 1e-12) > 1e-15:
        raise ConversionError("DistilBERT's LayerNorm eps is fixed at 1e-12; this BERT uses another value")
    return DistilBertConfig(
        vocab_size=bert["vocab_size"],
        max_position_embeddings=bert["max_position_embeddings"],
        n_layers=bert["num_hidden_layers"],
        n_heads=bert["num_attention_heads"],
        dim=bert["hidden_size"],
        hidden_dim=bert["intermediate_size"],
        dropout=bert.get("hidden_dropout_prob", 0.1),
        attention_dropout=bert.get("attention_probs_dropout_prob", 0.1),
        activation="gelu",
        initializer_range=bert.get("initializer_range", 0.02),
        pad_token_id=bert.get("pad_token_id", 0),
        architectures=["DistilBertModel"],
    )


def bert_to_distilbert_state(state: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Rename BERT weights to DistilBERT names; fold token-type row 0 into positions; drop the pooler."""
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    try:
        out = {
            "embeddings.word_embeddings.weight": state["embeddings.word_embeddings.weight"],
            "embeddings.position_embeddings.weight": state["embeddings.position_embeddings.weight"]
            + state["embeddings.token_type_embeddings.weight"][0],
            "embeddings.LayerNorm.weight": state["embeddings.LayerNorm.weight"],
            "embeddings.LayerNorm.bias": state["embeddings.LayerNorm.bias"],
        }
        for i in range(n_layers):
            for src, dst in _LAYER_MAP.items():
                for kind in ("weight", "bias"):
                    out[f"transformer.layer.{i}.{dst}.{kind}"] = state[f"encoder.layer.{i}.{src}.{kind}"]
    except KeyError as exc:
        raise ConversionError(f"BERT checkpoint lacks weight {exc.args[0]!r}") from None
    return {k: v.contiguous().clone() for k, v in out.items()}


METHOD = ("BERT -> DistilBERT: renamed weights, token_type_embeddings[0] folded into position embeddings, "
          "pooler dropped (lossless for single-segment input)")


def write_distilbert_dir(bert_state: dict[str, torch.Tensor], bert_cfg: dict, dst: Path,
                         save_tokenizer: Callable[[Path], None], provenance: dict) -> Path:
    """Write a DistilBertModel directory from an in-memory BERT state dict and config (atomic: a ``.tmp``
    sibling is renamed into place, so a crash never leaves a half-written base that looks complete)."""
    dst = Path(dst)
    config = distilbert_config_from_bert(bert_cfg)
    state = bert_to_distilbert_state(bert_state, config.n_layers)
    tmp = dst.with_name(dst.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    config.save_pretrained(tmp)
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    save_tokenizer(tmp)
    (tmp / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False))
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    return dst


def convert_bert_dir(src: Path, dst: Path, provenance: dict | None = None) -> Path:
    """Write a DistilBertModel directory (config, model.safetensors, tokenizer, PROVENANCE.json) to ``dst``."""
    src, dst = Path(src), Path(dst)
    weights = src / "model.safetensors"
    if not weights.is_file():
        raise ConversionError(f"{src} has no model.safetensors (only safetensors weights are loaded)")
    bert_cfg = json.loads((src / "config.json").read_text())
    record = {
        "converted_from": str(src),
        "source_architecture": "BertModel",
        "source_sha256": sha256_file(weights),
        "method": METHOD,
        **(provenance or {}),
    }
    return write_distilbert_dir(load_file(str(weights)), bert_cfg, dst,
                                lambda out: DistilBertTokenizer.from_pretrained(str(src)).save_pretrained(out),
                                record)
