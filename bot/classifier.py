"""The sentiment classifier: a merged model directory -> calibrated predictions, batched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from finetune.calibrate import softmax
from finetune.model_dir import load_model_dir

from .policy import Prediction

WARMUP_TEXTS = ["the delivery was late again", "love the new app", "where is my order?"]


class Classifier:
    def __init__(self, model_dir: Path, max_length: int = 128, batch_size: int = 32, threads: int | None = None):
        torch.set_num_threads(threads or max(1, min(4, os.cpu_count() or 1)))
        self.model_dir = Path(model_dir)
        self.model, self.tokenizer, self.meta = load_model_dir(self.model_dir)
        config = self.model.config
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        if self.meta.get("labels") and self.meta["labels"] != self.labels:
            raise ValueError(f"{self.model_dir}: feedbackbot.json labels {self.meta['labels']} differ from "
                             f"config.json id2label {self.labels}")
        # Uncalibrated models (no feedbackbot.json, e.g. a hub model) are allowed but reported at start.
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.calibrated = "temperature" in self.meta
        self.thresholds: dict[str, float | None] = dict(self.meta.get("thresholds", {}).get("thresholds", {}))
        self.max_length = min(max_length, getattr(self.tokenizer, "model_max_length", max_length) or max_length)
        self.batch_size = batch_size
        self.version = self.meta.get("version") or f"{self.model_dir.name}:{self.meta.get('data', {}).get('fingerprint', 'unknown')[:12]}"

    def warm_up(self) -> float:
        started = time.perf_counter()
        self.predict(WARMUP_TEXTS)
        return time.perf_counter() - started

    @torch.inference_mode()
    def logits(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[i:i + self.batch_size], truncation=True, max_length=self.max_length,
                                 padding=True, return_tensors="pt")
            out.append(self.model(**enc).logits.float().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def predict(self, texts: list[str]) -> list[Prediction]:
        probs = softmax(self.logits(texts), self.temperature)
        return [Prediction(label=self.labels[int(row.argmax())],
                           probabilities={name: float(p) for name, p in zip(self.labels, row)}) for row in probs]
