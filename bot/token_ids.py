"""Customer text -> token ids, without importing transformers or torch.

A merged model directory carries ``tokenizer.json``, the file transformers' fast tokenizers run on; the Rust
``tokenizers`` library reads it directly. That keeps PyTorch (~1.3 s of import, ~200 MB resident) out of a bot that
serves from ONNX Runtime. A directory without ``tokenizer.json`` (a slow-tokenizer model from the hub) goes through
transformers' AutoTokenizer, which converts it; tests check both give the ids transformers gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finetune.model_dir import ModelDirError, read_json


class TokenIds:
    def __init__(self, model_dir: Path):
        model_dir = Path(model_dir)
        config = read_json(model_dir / "tokenizer_config.json")
        limits = (config.get("model_max_length"), read_json(model_dir / "config.json").get("max_position_embeddings"))
        # transformers writes a huge sentinel when a tokenizer has no limit of its own
        self.model_max_length = min((x for x in limits if isinstance(x, int) and 0 < x < 10**9), default=512)
        self._spm = None
        from .sentencepiece_ids import SentencePieceIds, is_large_unigram

        if is_large_unigram(model_dir):     # 250k pieces: SentencePiece holds them in a quarter of the memory
            self._spm = SentencePieceIds(model_dir)
            self.pad_id = self._spm.pad_id
            return
        if (model_dir / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            try:
                self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            except Exception as exc:
                raise ModelDirError(f"cannot read {model_dir / 'tokenizer.json'}: {exc}") from None
        else:
            from finetune.model_dir import load_tokenizer

            self._tokenizer = load_tokenizer(str(model_dir)).backend_tokenizer
        self._tokenizer.no_padding()   # the classifier pads length-sorted chunks itself
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_id = (self._tokenizer.token_to_id(pad) if pad else None) or 0

    def __call__(self, texts: list[str], max_length: int) -> list[list[int]]:
        """Ids with the model's special tokens, truncated to ``max_length`` (special tokens included)."""
        if self._spm is not None:
            return self._spm(texts, max_length)
        if (self._tokenizer.truncation or {}).get("max_length") != max_length:
            self._tokenizer.enable_truncation(max_length)
        return [encoding.ids for encoding in self._tokenizer.encode_batch_fast(texts)]

    def chunks(self, texts: list[str], max_length: int, max_chunks: int, stride: int = 16) -> list[list[list[int]]]:
        """Per text, its ids cut into up to ``max_chunks`` windows of ``max_length`` (special tokens included)
        overlapping by ``stride`` tokens: a long review is read whole instead of only its first ``max_length``."""
        if self._spm is not None:
            return self._spm.chunks(texts, max_length, max_chunks, stride)
        stride = min(stride, max_length // 2)
        self._tokenizer.enable_truncation(max_length, stride=stride)
        try:
            out = []
            for encoding in self._tokenizer.encode_batch_fast(texts):
                windows = [encoding.ids] + [o.ids for o in encoding.overflowing]
                out.append(windows[:max(1, max_chunks)])
            return out
        finally:
            self._tokenizer.enable_truncation(max_length)


def padded(ids: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    """``input_ids`` and ``attention_mask`` for ``ids``, right-padded to the longest."""
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        input_ids[row, :len(x)] = x
        mask[row, :len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}
