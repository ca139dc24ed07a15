"""Inference backends behind the classifier: token ids in, logits out.

- ``torch``: the merged model in PyTorch, float32 — the reference every other backend is measured against;
- ``onnx``: the same graph exported to ONNX, run by ONNX Runtime (float32; equal to torch within 1e-3);
- ``onnx-int8``: that graph with int8 weights (dynamic quantisation), the fastest on a small CPU; messages whose
  top two logits are closer than ``recheck_margin`` are re-run on the float graph (see bot.onnx_export).
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
    """ONNX Runtime on the fused float graph, or on its int8 form with near ties re-run on the float graph."""

    def __init__(self, model_dir: Path, threads: int, quantized: bool, min_agreement: float = 0.95,
                 recheck_margin: float = 0.5, log=print, decision_offset: np.ndarray | None = None,
                 decision_scale: np.ndarray | None = None):
        from .onnx_export import OnnxBuildError, build, disagreement, probe_agreement, session, shared_table
        from .token_ids import TokenIds

        self.name = "onnx-int8" if quantized else "onnx"
        self.recheck_margin = recheck_margin if quantized else 0.0
        self.rechecked = 0    # rows re-run on the float graph since start (bench/latency.py reports the share)
        # served class scales, and temperature x served class biases: where the served decision's ties are
        # (recheck_near_ties)
        self.decision_offset, self.decision_scale = decision_offset, decision_scale
        fp32 = build(model_dir, quantized=False, log=log)
        if quantized:
            self.path = build(model_dir, quantized=True, log=log)
        # a large vocabulary's int8 table: one memory mapping for both graphs (kept alive with the sessions)
        self._table = shared_table(fp32)
        float_session = session(fp32, threads, spin=not quantized, shared=self._table)
        self._run_float = lambda inputs: float_session.run(["logits"], inputs)[0]
        self._session = float_session
        if not quantized:
            self.path = fp32
        else:
            self._session = session(self.path, threads, shared=self._table)
            self.agreement = probe_agreement(self, self._run_float, TokenIds(model_dir), offset=decision_offset,
                                             scale=decision_scale)
            if self.agreement < min_agreement:
                raise OnnxBuildError(disagreement(self.agreement, min_agreement, model_dir, self.recheck_margin))
            self.rechecked = 0    # count served rows, not the probe check
            if self.recheck_margin <= 0:
                self._run_float = None    # not needed while serving: the float graph is freed

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        from .onnx_export import recheck_near_ties

        logits = self._session.run(["logits"], inputs)[0]
        if self._run_float is not None and self.recheck_margin > 0:
            self.rechecked += recheck_near_ties(logits, inputs, self._run_float, self.recheck_margin,
                                                self.decision_offset, self.decision_scale)
        return logits


def open_backend(kind: str, model_dir: Path, threads: int, min_agreement: float = 0.95, recheck_margin: float = 0.5,
                 log=print, decision_offset: np.ndarray | None = None, decision_scale: np.ndarray | None = None):
    if kind == "torch":
        return TorchBackend(model_dir, threads)
    if kind in ("onnx", "onnx-int8"):
        return OnnxBackend(model_dir, threads, quantized=kind == "onnx-int8", min_agreement=min_agreement,
                           recheck_margin=recheck_margin, log=log, decision_offset=decision_offset,
                           decision_scale=decision_scale)
    raise ValueError(f"unknown model backend {kind!r}; choose one of {', '.join(BACKENDS)}")
