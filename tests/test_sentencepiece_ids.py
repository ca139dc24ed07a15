"""The serving tokenizer for large Unigram vocabularies gives the ids tokenizers gives, from the same tokenizer.json."""

from __future__ import annotations

import json

import pytest

from finetune.unigram_tokenizer import SpecialTokens, build_unigram_tokenizer

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "▁he", "llo", "h", "e", "l", "o", "w", "r",
          "d", "!", "▁good", "▁bad", "▁service", "▁not", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -4.0, -4.5, -3.5, -3.6, -6, -6, -6, -6, -6, -6, -6, -5.0, -4, -4, -4, -4, 0.0]
NORMALISER = {"\uff48": "h", "\uff45": "e", "\uff4c": "l", "\uff4f": "o", "\t": " ", "\u00bd": "1\u20442"}
# Stripped, as the bot strips messages: tokenizers keeps a trailing space as a "▁" piece, SentencePiece drops it.
TEXTS = ["hello world!", "\uff48\uff45\uff4c\uff4c\uff4f  world", "good service", "not bad", "hellow",
         "hello zz world", ("bad " * 40).strip(), "hello\tworld", "hello  good"]


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    import bot.sentencepiece_ids as spi

    monkeypatch.setattr(spi, "LARGE_UNIGRAM", 10)     # the tiny vocabulary counts as large here
    tok = build_unigram_tokenizer(PIECES, SCORES, SpecialTokens(bos=0, eos=2, pad=1, unk=3, mask=21), NORMALISER)
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>", "model_max_length": 512}))
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": len(PIECES), "max_position_embeddings": 512}))
    return tmp_path


def test_sentencepiece_serves_the_same_ids_windows_and_padding_as_tokenizers(model_dir):
    from tokenizers import Tokenizer

    from bot.token_ids import TokenIds

    ids = TokenIds(model_dir)
    assert ids._spm is not None and ids.pad_id == 1
    reference = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    for max_length in (6, 64):
        reference.enable_truncation(max_length)
        assert ids(TEXTS, max_length) == [e.ids for e in reference.encode_batch(TEXTS)]
    reference.enable_truncation(12, stride=3)
    windows = ids.chunks(TEXTS, 12, max_chunks=50, stride=3)
    assert windows == [[e.ids] + [o.ids for o in e.overflowing] for e in reference.encode_batch(TEXTS)]
    assert len(ids.chunks(["bad " * 40], 12, max_chunks=3, stride=3)[0]) == 3
    # built once, then read from the cache by the tokenizer.json's digest
    from bot.sentencepiece_ids import cached_model

    built = cached_model(model_dir)
    stamp = built.stat().st_mtime_ns
    TokenIds(model_dir)
    assert cached_model(model_dir).stat().st_mtime_ns == stamp


def test_a_small_vocabulary_stays_on_tokenizers(model_dir, monkeypatch):
    import bot.sentencepiece_ids as spi
    from bot.token_ids import TokenIds

    monkeypatch.setattr(spi, "LARGE_UNIGRAM", 100_000)
    assert TokenIds(model_dir)._spm is None
