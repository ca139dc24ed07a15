"""ONNX export of a merged model directory and ONNX Runtime dynamic int8 quantisation, built once and cached.

- export: ``torch.onnx.export`` (the dynamo exporter) with dynamic batch and sequence axes; checked against the
  PyTorch model on probe messages (max |logit difference| <= 1e-3, or the build fails);
- int8: ``onnxruntime.quantization.quantize_dynamic`` with per-channel int8 weights on the encoder's weight
  MatMuls, except the feed-forward down-projections. Left in float: those (their GELU inputs have outliers that a
  per-tensor int8 activation scale flattens), the embeddings (a Gather), the attention score products (two
  activations) and the small classification head (its errors land straight on the logits). Measured on the
  default model's airline test split: agreement with PyTorch 99.2-99.4% with this recipe, 98.6% when the
  down-projections are quantised too (bench/latency.py reports it; tests/test_onnx_backend.py asserts it).
- guard: the int8 model must agree with the float model on the probe messages (``min_agreement``), else the
  build fails with a clear error; never a silent switch to another backend.

Artifacts live in ``<cache>/onnx/<digest of the model weights>/`` so a changed model is exported again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

from finetune.model_dir import ModelDirError, load_model_dir
from finetune.paths import cache_root

FP32 = "model.onnx"
INT8 = "model.int8-v2.onnx"   # the recipe's version is in the name: a changed recipe builds a new file
EXPORT_TOLERANCE = 1e-3
INPUTS = ("input_ids", "attention_mask")


class OnnxBuildError(RuntimeError):
    """The ONNX model could not be built, or failed its equivalence / agreement check."""


def probe_messages() -> list[str]:
    text = resources.files("bot").joinpath("probe_messages.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with open(Path(model_dir) / "model.safetensors", "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def encode(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")
    return {name: enc[name].astype(np.int64) for name in INPUTS}


def export_fp32(model_dir: Path, target: Path, max_length: int = 128) -> float:
    """Export the merged model to ONNX; returns the max |logit| difference to PyTorch on the probe messages."""
    import torch

    model, tokenizer, _ = load_model_dir(model_dir)
    model.eval()
    example = {k: torch.from_numpy(v) for k, v in encode(tokenizer, ["an example", "a longer example text"], 16).items()}
    batch = torch.export.Dim("batch", min=1, max=4096)
    seq = torch.export.Dim("sequence", min=1, max=int(model.config.max_position_embeddings))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # exporter chatter (deprecations, axis renames), not problems of ours
        program = torch.onnx.export(model, (), kwargs=example, dynamo=True, optimize=True, verbose=False,
                                    input_names=list(INPUTS), output_names=["logits"],
                                    dynamic_shapes={name: {0: batch, 1: seq} for name in INPUTS})
    program.save(str(target))
    inputs = encode(tokenizer, probe_messages(), max_length)
    with torch.no_grad():
        reference = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    exported = session(target, threads=1).run(["logits"], inputs)[0]
    return float(np.abs(exported - reference).max())


def int8_matmuls(path: Path) -> list[str]:
    """MatMul nodes to quantise: those with a stored weight (the encoder's linear layers), except the feed-forward
    down-projections (their input is the GELU output)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    made_by = {out: n.op_type for n in model.graph.node for out in n.output}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights
            and made_by.get(n.input[0]) != "Gelu" and not n.input[0].startswith("gelu")]


def quantize_int8(fp32: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=int8_matmuls(fp32))


def session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def default_threads() -> int:
    """Physical-ish cores, at most 4: more threads than cores (or SMT siblings) slow small matrices down."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def agreement(fp32: Path, int8: Path, tokenizer, max_length: int) -> float:
    inputs = encode(tokenizer, probe_messages(), max_length)
    a = session(fp32, threads=1).run(["logits"], inputs)[0].argmax(1)
    b = session(int8, threads=1).run(["logits"], inputs)[0].argmax(1)
    return float((a == b).mean())


def build(model_dir: Path, quantized: bool, min_agreement: float = 0.95, max_length: int = 128, log=print) -> Path:
    """The cached ONNX file for ``model_dir`` (float or int8), building and checking it on first use."""
    from finetune.model_dir import load_tokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "model.safetensors").is_file():
        raise ModelDirError(f"{model_dir} has no model.safetensors to export")
    folder = cache_root() / "onnx" / weights_digest(model_dir)
    report_path = folder / "build.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    wanted = folder / (INT8 if quantized else FP32)
    int8 = report.get("int8", {})
    if wanted.is_file() and (not quantized or int8.get("file") == INT8):
        if quantized and int8["agreement"] < min_agreement:
            raise OnnxBuildError(_disagreement(int8["agreement"], min_agreement, model_dir))
        return wanted
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
            report.update({"export_max_abs_logit_diff": diff, "export_seconds": time.perf_counter() - started})
        if quantized:
            started = time.perf_counter()
            log("quantising to int8 (once) ...")
            quantize_int8(folder / FP32, tmp / INT8)
            report["int8"] = {"file": INT8, "probe_messages": len(probe_messages()),
                              "agreement": agreement(folder / FP32, tmp / INT8, load_tokenizer(str(model_dir)), max_length),
                              "quantize_seconds": time.perf_counter() - started}
            os.replace(tmp / INT8, folder / INT8)
        report_path.write_text(json.dumps(report, indent=2))
    if quantized and report["int8"]["agreement"] < min_agreement:
        raise OnnxBuildError(_disagreement(report["int8"]["agreement"], min_agreement, model_dir))
    return wanted


def _disagreement(value: float, wanted: float, model_dir: Path) -> str:
    return (f"the int8 model of {model_dir} agrees with the float model on only {100 * value:.1f}% of the probe "
            f"messages (required {100 * wanted:.1f}%); use backend = \"onnx\" (float) or \"torch\"")

