"""ONNX export of a merged model directory, fused for ONNX Runtime, and its dynamic int8 form; built once, cached.

- export: ``torch.onnx.export`` with dynamic batch and sequence axes, then ONNX Runtime's transformer optimizer
  (``onnxruntime.transformers.optimizer``, model type "bert") fuses each layer's attention into one ``Attention``
  op and the layer norms and GELUs into ``SkipLayerNormalization`` / ``BiasGelu``. The float graph must match
  PyTorch within 1e-3 on the probe messages, else the build fails. This is ONNX Runtime's documented BERT recipe;
  it uses the TorchScript exporter (``dynamo=False``, deprecated in PyTorch but present in the pinned 2.13) because
  the dynamo exporter's graph fuses into an ``Attention`` with an additive mask and ``qkv_hidden_sizes``, which
  ONNX Runtime's quantiser cannot turn into ``QAttention``: measured on the default model, single message p50
  5.3 ms vs 3.7 ms, 290 vs 437 messages/s at batch 32 (2 cores).
- int8: ``onnxruntime.quantization.quantize_dynamic`` with per-channel int8 weights on every weight MatMul and
  every fused Attention (-> ``QAttention``); the small classification head stays float, and so do the embeddings
  of a small vocabulary. A large vocabulary's word-embedding table is stored 8-bit with one scale per block of 32
  columns of each row (``bot.embedding_table``) in both served graphs.
- re-check of near ties (``recheck_margin``): int8 rounding moves logits by ~0.2, which flips the label only of
  messages whose top two logits are that close. The int8 backend runs those rows again on the float graph:
  measured on the default model, 4-5% of messages, agreement with PyTorch 98.4-98.6% -> 99.7-99.9%.
- guard: the int8 backend (with its re-check) must agree with the float graph on the probe messages
  (``min_agreement``), else the build fails with a clear error; never a silent switch to another backend.

Artifacts live in ``<cache>/onnx/<digest of the model weights>/`` so a changed model is exported again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

from finetune.model_dir import ModelDirError, load_model
from finetune.paths import cache_root, sha256_file

from .embedding_table import PARTS, replace_fused_embedding
from .token_ids import TokenIds, padded

FP32 = "model.fused-v4.onnx"   # the recipe's version is in the names: a changed recipe builds new files
INT8 = "model.int8-v6.onnx"
EMB8 = "model.fused-emb8-v6.onnx"   # float encoder, block-wise 8-bit word-embedding table (large vocabularies only)
# The 8-bit word-embedding table of a large vocabulary (with its block scales and zero points: 96 + 15 MB), stored
# once beside both served graphs as ONNX external data and mapped once per process (``shared_table``): the int8 graph
# and its float re-check graph hold the same table, which each session would otherwise load (and which the loader
# briefly holds twice). Measured on the multilingual default (2 sessions, README "Speed"): peak RSS of the two
# sessions 451 -> 248 MB.
TABLE = "word-embeddings-int8-v6.bin"
# A multilingual vocabulary (250k XLM-R pieces x 384) is a 366 MB float table, most of the model, and a message
# touches a few dozen of its rows. Above this many rows the table is stored 8-bit with a scale per block of 32 columns
# (``bot.embedding_table``) in both served graphs: measured on the multilingual default, see README "Speed".
LARGE_VOCAB = 100_000
EMB8_TOLERANCE = 0.05  # max |logit| difference of the 8-bit-table float graph to the all-float one on the probes
# (measured on the multilingual default: 0.010 with block-wise scales; ONNX Runtime's QEmbedLayerNormalization, one
# scale for the whole table, moved them by 0.11, and cost the second-epoch model 2 of 300 guard messages)
EXPORT_TOLERANCE = 1e-3
INPUTS = ("input_ids", "attention_mask")


class OnnxBuildError(RuntimeError):
    """The ONNX model could not be built, or failed its equivalence / agreement check."""


def probe_messages() -> list[str]:
    text = resources.files("bot").joinpath("probe_messages.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def weights_digest(model_dir: Path) -> str:
    """The first 16 hex digits of the weights' SHA-256 (remembered per file size and time: hashed once a run)."""
    files = sorted(Path(model_dir).glob("*.safetensors"))     # one file, or a hub model's shards
    if not files:
        raise ModelDirError(f"{model_dir} has no .safetensors weights")
    parts = [_digest(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return parts[0] if len(parts) == 1 else hashlib.sha256("".join(parts).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))[:16]


def encode(tokens: TokenIds, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """Model inputs for ``texts``, padded to the longest."""
    return padded(tokens(texts, max_length), tokens.pad_id)


def export_fp32(model_dir: Path, target: Path, max_length: int = 128) -> float:
    """Export the merged model to a fused ONNX graph; returns the max |logit| difference to PyTorch on the probes."""
    import torch
    from onnxruntime.transformers import optimizer

    model = load_model(model_dir)
    model.set_attn_implementation("eager")   # the attention pattern ONNX Runtime's fusion recognises
    tokens = TokenIds(model_dir)
    example = encode(tokens, ["an example", "a longer example text"], 16)
    raw = target.with_name(target.stem + ".unfused.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # exporter chatter (deprecation, tracer notes), not problems of ours
        torch.onnx.export(model, tuple(torch.from_numpy(example[name]) for name in INPUTS), str(raw), dynamo=False,
                          input_names=list(INPUTS), output_names=["logits"], opset_version=17,
                          dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in INPUTS},
                                        "logits": {0: "batch"}})
    config = model.config
    fused = optimizer.optimize_model(str(raw), model_type="bert", opt_level=0,
                                     num_heads=getattr(config, "n_heads", None) or getattr(config, "num_attention_heads", 0),
                                     hidden_size=getattr(config, "dim", None) or getattr(config, "hidden_size", 0))
    _drop_shape_only_gather(fused.model.graph)
    fused.save_model_to_file(str(target))
    raw.unlink()
    inputs = encode(tokens, probe_messages(), max_length)
    with torch.no_grad():
        reference = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    exported = session(target, threads=1).run(["logits"], inputs)[0]
    return float(np.abs(exported - reference).max())


def _drop_shape_only_gather(graph) -> int:
    """After fusion, the exporter's word-embedding ``Gather`` survives only to feed a ``Shape`` (the sequence
    length for the position ids): a whole embedding lookup per forward, and a reference that keeps the float table
    alive after the table is quantised. ``Shape`` of the ids has the same first two dimensions, so it reads the
    ids instead and the ``Gather`` goes. Returns how many were dropped."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inputs = {i.name for i in graph.input}
    dropped = 0
    for node in list(graph.node):
        if node.op_type != "Gather" or node.input[1] not in inputs or "word_embeddings" not in node.input[0]:
            continue
        users = consumers.get(node.output[0], [])
        if not users or any(u.op_type != "Shape" for u in users):
            continue
        # every Shape user must only be read at dims 0/1 (a constant-index Gather), else leave the graph alone
        for shape in users:
            for reader in consumers.get(shape.output[0], []):
                if reader.op_type != "Gather":
                    return dropped
        for shape in users:
            shape.input[0] = node.input[1]
        graph.node.remove(node)
        dropped += 1
    return dropped


def vocab_rows(model_dir: Path) -> int:
    from finetune.model_dir import read_json

    return int(read_json(Path(model_dir) / "config.json").get("vocab_size", 0))


def quantize_int8(fp32: Path, target: Path) -> None:
    """Dynamic int8 of the encoder's weight matrices (a block-wise 8-bit embedding table, if any, is kept as is)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    # the encoder's weight MatMuls and fused attentions; not the classification head (a Gemm, whose errors would land
    # straight on the logits; the quantiser would otherwise rewrite it to a MatMul and quantise it too)
    encoder = [node.name for node in graph.node
               if node.op_type in ("MatMul", "Attention") and node.input[1] in weights
               and "classifier" not in node.name]
    quantizer_log = logging.getLogger()     # the quantiser logs a generic "consider pre-processing" note at WARNING
    level = quantizer_log.level
    quantizer_log.setLevel(logging.ERROR)
    try:
        # reduce_range: 7-bit weights. On a CPU without VNNI (AVX2 only, e.g. the AMD EPYC machines here) int8 x int8
        # products go through VPMADDUBSW, whose 16-bit pair sums saturate; with 8-bit weights that moved the default
        # model's logits by up to 2.1 and cost agreement with PyTorch (300-tweet sample: 96.3% -> 97.7% raw, 99.0%
        # -> 99.7% after the re-check with 7-bit). ONNX Runtime's documented remedy; one graph for every CPU.
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul", "Attention"],
                         nodes_to_quantize=encoder,
                         # the fused ops come from ONNX Runtime's own domain, where shape inference has no types
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        quantizer_log.setLevel(level)


def session(path: Path, threads: int | None = None, spin: bool = True, shared=None):
    """An ONNX Runtime CPU session. ``spin=False`` for a second session in the same process (the int8 backend's
    float re-check): its idle threads would otherwise busy-wait on the cores the main session needs next
    (measured: 218 vs 139 messages/s at 32 per call). ``shared``: ``shared_table``'s value, used in place of the
    graph's external embedding table (no copy)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    for name, value, _ in shared or ():
        options.add_initializer(name, value)
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def default_threads() -> int:
    """Physical-ish cores, at most 4: more threads than cores (or SMT siblings) slow small matrices down."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def recheck_near_ties(logits: np.ndarray, inputs: dict[str, np.ndarray], run_float, margin: float,
                      offset: np.ndarray | None = None, scale: np.ndarray | None = None) -> int:
    """Re-run on the float graph (``run_float``) the rows whose top two logits are closer than ``margin``, in
    place; returns how many rows were re-run. ``scale`` and ``offset``: what the decision does to the logits (the
    served class scales, and temperature x the served class biases, as argmax(scale * logits / T + bias) =
    argmax(scale * logits + T * bias)), so ties are found where the served decision is, not where the raw logits
    tie."""
    if margin <= 0 or logits.shape[1] < 2:
        return 0
    decided = decision(logits, offset, scale)
    top2 = np.partition(decided, -2, axis=1)[:, -2:]
    rows = np.flatnonzero(top2[:, 1] - top2[:, 0] < margin)
    if rows.size:
        logits[rows] = run_float({name: value[rows] for name, value in inputs.items()})
    return int(rows.size)


def decision(logits: np.ndarray, offset: np.ndarray | None = None, scale: np.ndarray | None = None) -> np.ndarray:
    """The logits as the served decision weighs them: scale * logits + offset (either may be None)."""
    decided = logits if scale is None else logits * scale
    return decided if offset is None else decided + offset


def probe_agreement(run_int8, run_float, tokens: TokenIds, max_length: int = 128,
                    offset: np.ndarray | None = None, scale: np.ndarray | None = None) -> float:
    """Share of the probe messages on which ``run_int8`` (with its re-check) picks the float graph's label (the
    label served: after ``scale`` and ``offset``, see recheck_near_ties)."""
    inputs = encode(tokens, probe_messages(), max_length)
    return float((decision(run_int8(inputs), offset, scale).argmax(1)
                  == decision(run_float(inputs), offset, scale).argmax(1)).mean())


def build(model_dir: Path, quantized: bool, max_length: int = 128, log=print) -> Path:
    """The cached ONNX file the bot serves for ``model_dir`` (the fused float graph, or int8), built on first use.

    For a vocabulary above ``LARGE_VOCAB`` rows the served float graph is ``EMB8`` (block-wise 8-bit embedding
    table, float encoder) and the int8 graph is made from it; the all-float export is kept only as their source."""
    model_dir = Path(model_dir)
    if not (model_dir / "model.safetensors").is_file():
        raise ModelDirError(f"{model_dir} has no model.safetensors to export")
    large = vocab_rows(model_dir) > LARGE_VOCAB
    folder = cache_root() / "onnx" / weights_digest(model_dir)
    wanted = folder / (INT8 if quantized else EMB8 if large else FP32)
    if wanted.is_file():
        return wanted
    report_path = folder / "build.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report = {name: entry for name, entry in report.items() if name in (FP32, INT8, EMB8, TABLE)}   # drop earlier recipes'
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tmp = Path(tmp)
        if not (folder / FP32).is_file():
            started = time.perf_counter()
            log(f"exporting {model_dir} to ONNX (once) ...")
            diff = export_fp32(model_dir, tmp / FP32, max_length)
            if diff > EXPORT_TOLERANCE:
                raise OnnxBuildError(f"the ONNX export of {model_dir} differs from PyTorch by {diff:.2e} "
                                     f"(> {EXPORT_TOLERANCE}); use backend = \"torch\"")
            os.replace(tmp / FP32, folder / FP32)
            report[FP32] = {"max_abs_logit_diff_to_torch": diff, "seconds": time.perf_counter() - started}
        if large and not (folder / EMB8).is_file():
            started = time.perf_counter()
            log("storing the embedding table 8-bit, block-wise (once) ...")
            table = replace_fused_embedding(folder / FP32, tmp / EMB8)
            diff = _diff_to(folder / FP32, tmp / EMB8, TokenIds(model_dir), max_length)
            if diff > EMB8_TOLERANCE:
                raise OnnxBuildError(f"the 8-bit embedding table moves logits by {diff:.2e} (> {EMB8_TOLERANCE}) on "
                                     f"the probe messages; use backend = \"torch\"")
            report[TABLE] = _externalise_table(tmp / EMB8, folder)
            os.replace(tmp / EMB8, folder / EMB8)
            report[EMB8] = {"max_abs_logit_diff_to_float": diff, "table": table,
                            "seconds": time.perf_counter() - started}
        if quantized:
            started = time.perf_counter()
            log("quantising to int8 (once) ...")
            quantize_int8(folder / (EMB8 if large else FP32), tmp / INT8)   # EMB8's table is read from its file
            if large:
                report[TABLE] = _externalise_table(tmp / INT8, folder)
            os.replace(tmp / INT8, folder / INT8)
            report[INT8] = {"seconds": time.perf_counter() - started, "embedding_table_int8": large}
        report_path.write_text(json.dumps(report, indent=2))
    for stale in [*folder.glob("*.onnx"), *folder.glob("*.bin")]:   # earlier recipes' files (another version)
        if stale.name not in (FP32, INT8, EMB8, TABLE):
            stale.unlink()
    return wanted


def _externalise_table(model_path: Path, folder: Path) -> dict:
    """Move ``model_path``'s 8-bit word-embedding table, with its block scales and zero points, into
    ``folder / TABLE`` (written once, each part at a 64-byte aligned offset; a second graph must hold the very same
    bytes, else the build fails) and leave external-data references in their place. Returns what ``shared_table``
    needs: each part's initializer, dtype, shape and offset, and the file's digest."""
    import onnx
    from onnx import external_data_helper, helper

    model = onnx.load(str(model_path))
    tables = [t for t in model.graph.initializer
              if t.name.endswith("word_embeddings." + PARTS[0]) and t.data_type == onnx.TensorProto.UINT8]
    if len(tables) != 1:
        raise OnnxBuildError(f"{model_path.name}: expected one 8-bit word-embedding table, found {len(tables)}")
    stem = tables[0].name.removesuffix(PARTS[0])
    by_name = {t.name: t for t in model.graph.initializer}
    if missing := [stem + part for part in PARTS if stem + part not in by_name]:
        raise OnnxBuildError(f"{model_path.name}: the 8-bit word-embedding table has no {', '.join(missing)}")
    parts = [by_name[stem + part] for part in PARTS]
    data, tensors = bytearray(), []
    for tensor in parts:
        data += b"\0" * (-len(data) % 64)
        tensors.append({"initializer": tensor.name, "offset": len(data), "shape": list(tensor.dims),
                        "dtype": np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).name})
        external_data_helper.set_external_data(tensor, TABLE, offset=len(data), length=len(tensor.raw_data))
        data += tensor.raw_data
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
    digest = hashlib.sha256(data).hexdigest()
    target = folder / TABLE
    if target.is_file():
        if sha256_file(target) != digest:
            raise OnnxBuildError(f"{model_path.name}: its 8-bit embedding table differs from {target} built for the "
                                 "other graph; delete the folder to rebuild both")
    else:
        partial = folder / f".{TABLE}.{os.getpid()}"
        partial.write_bytes(bytes(data))
        os.replace(partial, target)
    onnx.save(model, str(model_path))
    return {"tensors": tensors, "sha256": digest}


def shared_table(path: Path):
    """[(initializer name, OrtValue over its memory-mapped bytes, the mapping)] for a served graph whose embedding
    table is external (``TABLE``: the table, its scales and zero points), else None. One mapping serves every
    session it is added to (``session(shared=...)``); the caller keeps the returned value alive as long as those
    sessions."""
    import onnxruntime as ort

    folder = Path(path).parent
    entry = json.loads((folder / "build.json").read_text()).get(TABLE) if (folder / "build.json").is_file() else None
    if entry is None or not (folder / TABLE).is_file():
        return None
    shared = []
    for part in entry["tensors"]:
        array = np.memmap(folder / TABLE, dtype=part["dtype"], mode="r", offset=part["offset"],
                          shape=tuple(part["shape"]))
        shared.append((part["initializer"], ort.OrtValue.ortvalue_from_numpy(array), array))
    return shared


def _diff_to(reference: Path, candidate: Path, tokens: TokenIds, max_length: int) -> float:
    inputs = encode(tokens, probe_messages(), max_length)
    a = session(reference, threads=1, spin=False).run(["logits"], inputs)[0]
    b = session(candidate, threads=1, spin=False).run(["logits"], inputs)[0]
    return float(np.abs(a - b).max())


def disagreement(value: float, wanted: float, model_dir: Path, margin: float) -> str:
    return (f"the int8 model of {model_dir} (re-check margin {margin}) agrees with the float model on only "
            f"{100 * value:.1f}% of the probe messages (required {100 * wanted:.1f}%); raise [model] recheck_margin, "
            f"or use backend = \"onnx\" (float) or \"torch\"")
