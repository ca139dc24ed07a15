"""Merge LoRA adapters into the base weights, and prove the merged model computes the same logits."""

from __future__ import annotations

import numpy as np

from .train import collect_logits


class MergeVerificationError(RuntimeError):
    """Merged-model logits differ from adapter-model logits by more than the tolerance."""


def merge_and_verify(adapter_model, loader, tolerance: float = 1e-4):
    """Return (merged model, max |diff|, adapter logits, labels). Raises if the merge changed the outputs."""
    adapter_logits, labels = collect_logits(adapter_model, loader, progress="adapter logits")
    merged = adapter_model.merge_and_unload()
    merged_logits, _ = collect_logits(merged, loader, progress="merged logits")
    diff = float(np.abs(merged_logits - adapter_logits).max())
    if not diff <= tolerance:
        raise MergeVerificationError(
            f"merged model logits differ from the adapter model by {diff:.3g} > {tolerance:g}; refusing to save")
    return merged, diff, adapter_logits, labels
