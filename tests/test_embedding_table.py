"""The block-wise 8-bit word-embedding table (bot.embedding_table): its rounding error is bounded per block, and the
graph that reads it through GatherBlockQuantized computes what the fused float graph computes."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bot.classifier import Classifier
from bot.embedding_table import EmbeddingTableError, dequantize_blocks, quantize_blocks, replace_fused_embedding
from bot.onnx_export import FP32, encode, session, weights_digest
from bot.token_ids import TokenIds
from finetune.paths import cache_root

from conftest import sample_rows


def test_each_block_is_rounded_on_its_own_range():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 64)).astype(np.float32) * 0.01
    table[:, :32] *= 1000                   # the first block of every row spans 1000x the range of the second
    data, scale, zero = quantize_blocks(table, block=32)
    assert data.dtype == np.uint8 and scale.shape == zero.shape == (50, 2)
    error = np.abs(dequantize_blocks(data, scale, zero) - table)
    # within half a step of each block's own scale, so the small block keeps its precision ...
    assert (error.reshape(50, 2, 32).max(-1) <= scale / 2 + 1e-6).all()
    small = error[:, 32:].max()
    assert small < 0.01 * np.abs(table[:, 32:]).max()
    # ... where one scale for the whole table (what QEmbedLayerNormalization stores) rounds it away
    one = (table.max() - table.min()) / 255
    coarse = np.abs(np.round(table[:, 32:] / one) * one - table[:, 32:]).max()
    assert coarse > 20 * small


def test_zero_is_exact_and_a_constant_block_survives():
    table = np.zeros((3, 32), dtype=np.float32)
    table[1] = 0.5
    data, scale, zero = quantize_blocks(table, block=32)
    assert np.array_equal(dequantize_blocks(data, scale, zero)[[0, 2]], table[[0, 2]])
    assert np.allclose(dequantize_blocks(data, scale, zero)[1], 0.5, atol=scale[1, 0] / 2)


def test_a_width_that_is_not_a_multiple_of_the_block_is_refused():
    with pytest.raises(EmbeddingTableError, match="not a multiple"):
        quantize_blocks(np.zeros((4, 48), dtype=np.float32), block=32)


def test_the_replaced_graph_reads_the_table_block_wise_and_matches_the_float_graph(tiny_model_dir, tmp_path):
    Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)   # builds the fused float graph
    fp32 = cache_root() / "onnx" / weights_digest(tiny_model_dir) / FP32
    report = replace_fused_embedding(fp32, tmp_path / "blocked.onnx")
    ops = [node.op_type for node in onnx.load(str(tmp_path / "blocked.onnx")).graph.node]
    assert "GatherBlockQuantized" in ops and "EmbedLayerNormalization" not in ops
    assert "QEmbedLayerNormalization" not in ops and ops.count("Attention") >= 2
    assert report["shape"][1] % report["block"] == 0 and report["max_abs_rounding_error"] > 0
    texts = [r["text"] for r in sample_rows()][:48] + ["", "x " * 100]
    inputs = encode(TokenIds(tiny_model_dir), texts, 48)   # padded rows: the lengths the encoder masks by
    # the rewrite itself is exact: the fused float graph holding the dequantised table computes the same logits
    model = onnx.load(str(fp32))
    words = next(t for t in model.graph.initializer if t.name.endswith("word_embeddings.weight"))
    words.CopyFrom(numpy_helper.from_array(dequantize_blocks(*quantize_blocks(numpy_helper.to_array(words))),
                                           words.name))
    onnx.save(model, str(tmp_path / "dequantised.onnx"))
    blocked = session(tmp_path / "blocked.onnx").run(["logits"], inputs)[0]
    assert np.abs(blocked - session(tmp_path / "dequantised.onnx").run(["logits"], inputs)[0]).max() < 1e-4
    # and the rounding moves the (random, wide-initialised) tiny model's labels hardly at all
    reference = session(fp32).run(["logits"], inputs)[0]
    assert np.median(np.abs(blocked - reference)) < 0.05 and (blocked.argmax(1) == reference.argmax(1)).mean() >= 0.95


def test_a_graph_without_the_fused_embedding_op_is_refused(tiny_model_dir, tmp_path):
    Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)
    fp32 = cache_root() / "onnx" / weights_digest(tiny_model_dir) / FP32
    replace_fused_embedding(fp32, tmp_path / "once.onnx")
    with pytest.raises(EmbeddingTableError, match="expected one EmbedLayerNormalization, found 0"):
        replace_fused_embedding(tmp_path / "once.onnx", tmp_path / "twice.onnx")
