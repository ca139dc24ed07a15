"""Inference backends behind the classifier: token ids in, logits out.

- ``torch``: the merged model in PyTorch, float32 — the reference every other backend is measured against;
- ``onnx``: the same graph exported to ONNX, run by ONNX Runtime (float32; equal to torch within 1e-3);
- ``onnx-int8``: that graph with int8 weights (dynamic quantisation), the fastest on a small CPU.
The ONNX files are built from the merged model directory on first use and cached (see bot.onnx_export).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BACKENDS = ("torch", "onnx", "onnx-int8")


class TorchBackend:
    name = "torch"

    def __init__(self, model_dir: Path, threads: int):
        import torch

        from finetune.model_dir import load_model

        torch.set_num_threads(threads)
        self.model = load_model(model_dir)   # the Classifier already holds the tokenizer and metadata

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.float().numpy()


class OnnxBackend:
    def __init__(self, model_dir: Path, threads: int, quantized: bool, min_agreement: float, log=print):
        from .onnx_export import build, session

        self.name = "onnx-int8" if quantized else "onnx"
        self.path = build(model_dir, quantized, min_agreement=min_agreement, log=log)
        self.session = session(self.path, threads)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], inputs)[0]


def open_backend(kind: str, model_dir: Path, threads: int, min_agreement: float = 0.95, log=print):
    if kind == "torch":
        return TorchBackend(model_dir, threads)
    if kind in ("onnx", "onnx-int8"):
        return OnnxBackend(model_dir, threads, quantized=kind == "onnx-int8", min_agreement=min_agreement, log=log)
    raise ValueError(f"unknown model backend {kind!r}; choose one of {', '.join(BACKENDS)}")
