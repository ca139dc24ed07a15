"""A large word-embedding table stored as 8-bit integers with one scale and zero point per block of ``BLOCK``
columns of each row, in place of ONNX Runtime's fused embedding op.

Why: ONNX Runtime's ``QEmbedLayerNormalization`` (what ``quantize_dynamic`` makes of the fused
``EmbedLayerNormalization``) stores the whole 250k x 384 table with **one** scale and zero point, and the position
embeddings and the layer norm's weights as uint8 too. One scale for a table whose columns differ in range rounds the
small columns of every row coarsely: measured on the second-epoch multilingual model, that alone cost 2 of the 300
guard messages (98.3% agreement with PyTorch, README "Training a model"). Here the table is quantised per block
(asymmetric uint8, 12 scales per 384-wide row at ``BLOCK = 32``) and read with ONNX Runtime's
``GatherBlockQuantized``, which dequantises only the rows a message uses; the position table and the layer norm stay
float. The replaced node's two outputs keep their names, so the encoder (float or int8) reads them unchanged:

    word  = GatherBlockQuantized(table, input_ids, scales, zero_points)      [batch, seq, hidden]
    out   = LayerNormalization(word + Gather(position_table, position_ids))   -> the fused op's output 0
    index = ReduceSum(attention_mask, axis 1)                                  -> its mask_index (lengths, int32)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BLOCK = 32   # columns per scale: 12 scales a 384-wide row (float32 scales + uint8 zero points: 16% of the table)
# the names of the three initializers, after the table's own name less ".weight" (the export shares them by these)
PARTS = ("weight_quantized", "weight_scale", "weight_zero_point")   # the uint8 table, its block scales, zero points


class EmbeddingTableError(RuntimeError):
    """The graph has no fused embedding op of the expected form to replace."""


def quantize_blocks(table: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric uint8 per (row, block of columns): (data [rows, width] uint8, scales [rows, width / block] float32,
    zero points [rows, width / block] uint8), so that ``(data - zero) * scale`` is the table within scale / 2."""
    rows, width = table.shape
    if width % block:
        raise EmbeddingTableError(f"the table's width {width} is not a multiple of the block size {block}")
    blocks = table.astype(np.float32).reshape(rows, width // block, block)
    low = np.minimum(blocks.min(-1), 0.0)           # the range holds 0, so the zero point is an integer in [0, 255]
    high = np.maximum(blocks.max(-1), 0.0)
    scale = np.where(high > low, (high - low) / 255.0, 1.0).astype(np.float32)
    zero = np.clip(np.round(-low / scale), 0, 255)
    data = np.clip(np.round(blocks / scale[..., None]) + zero[..., None], 0, 255)
    return data.astype(np.uint8).reshape(rows, width), scale, zero.astype(np.uint8)


def dequantize_blocks(data: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    rows, width = data.shape
    blocks = data.reshape(rows, scale.shape[1], -1).astype(np.float32) - zero[..., None].astype(np.float32)
    return (blocks * scale[..., None]).reshape(rows, width)


def replace_fused_embedding(source: Path, target: Path, block: int = BLOCK) -> dict:
    """Write ``source`` (a fused float graph) to ``target`` with its ``EmbedLayerNormalization`` replaced as the
    module says. Returns the table's largest absolute rounding error and its shape (for build.json)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    fused = [node for node in graph.node if node.op_type == "EmbedLayerNormalization"]
    if len(fused) != 1:
        raise EmbeddingTableError(f"{source.name}: expected one EmbedLayerNormalization, found {len(fused)}")
    node = fused[0]
    inputs = list(node.input) + [""] * (9 - len(node.input))
    ids, segment_ids, words, positions, mask, position_ids = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[7],
                                                              inputs[8])
    if segment_ids or not (ids and words and positions and mask and position_ids):
        raise EmbeddingTableError(f"{source.name}: the fused embedding op has an unexpected form {inputs}")
    epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
    initializers = {init.name: init for init in graph.initializer}
    table = numpy_helper.to_array(initializers[words])
    data, scale, zero = quantize_blocks(table, block)
    error = float(np.abs(dequantize_blocks(data, scale, zero) - table).max())
    table_name, scale_name, zero_name = (f"{words.removesuffix('weight')}{part}" for part in PARTS)
    graph.initializer.remove(initializers[words])
    graph.initializer.extend([numpy_helper.from_array(data, table_name), numpy_helper.from_array(scale, scale_name),
                              numpy_helper.from_array(zero, zero_name),
                              numpy_helper.from_array(np.array([1], dtype=np.int64), "embedding_mask_axis")])
    output, mask_index = node.output[0], node.output[1]
    replacement = []
    # GatherBlockQuantized takes int64 indices: the fused op's are the graph's int64 ids cast to int32
    cast = next((n for n in graph.node if ids in n.output), None)
    if cast is not None and cast.op_type == "Cast" and not any(ids in n.input for n in graph.node if n is not node):
        ids = cast.input[0]
        graph.node.remove(cast)
    else:
        replacement.append(helper.make_node("Cast", [ids], ["embedding_ids"], name="EmbeddingIds",
                                            to=onnx.TensorProto.INT64))
        ids = "embedding_ids"
    replacement += [
        helper.make_node("GatherBlockQuantized", [table_name, ids, scale_name, zero_name], ["embedding_words"],
                         name="EmbeddingWords", domain="com.microsoft", gather_axis=0, quantize_axis=1,
                         block_size=block, bits=8),
        helper.make_node("Gather", [positions, position_ids], ["embedding_positions"], name="EmbeddingPositions"),
        helper.make_node("Add", ["embedding_words", "embedding_positions"], ["embedding_sum"], name="EmbeddingSum"),
        helper.make_node("LayerNormalization", ["embedding_sum", inputs[5], inputs[6]], [output],
                         name="EmbeddingLayerNorm", axis=-1, epsilon=epsilon),
        helper.make_node("ReduceSum", [mask, "embedding_mask_axis"], [mask_index], name="EmbeddingMaskIndex",
                         keepdims=0),
    ]
    graph.node.remove(node)
    at = next(i for i, n in enumerate(graph.node) if output in n.input or mask_index in n.input)
    for offset, new in enumerate(replacement):
        graph.node.insert(at + offset, new)
    onnx.save(model, str(target))
    return {"block": block, "shape": list(data.shape), "max_abs_rounding_error": error}
