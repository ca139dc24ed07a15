"""`feedbackbot calibrate`: the model's confidence fitted to a business's own labelled messages.

A model's temperature is fitted on its training mix's validation split, so its confidence is calibrated for that
mix: on the domains and languages it was not fitted on, ECE measured 0.03-0.19 on the test halves (bench/accuracy.py).
Calibration is relative to a distribution; the one that matters is the business's own. From a few hundred labelled
messages of it (`feedbackbot export --labelled`, or any CSV/JSONL of text,label) this fits three calibrators:

- **temperature**: one number T, probabilities softmax(logits / T): fixes over- or under-confidence;
- **temperature + bias**: T and one bias per class, softmax(logits / T + bias): also absorbs a shift of the label
  prior or a lean of the model on this domain (bench/calibration.py: the default model leans positive on Dutch,
  French and German reviews; a bias fitted on their validation halves took Dutch accuracy 0.826 -> 0.900 and ECE
  0.048 -> 0.013 on the test halves). A bias moves decisions, not only confidence, so it is chosen only where it
  predicts messages it was not fitted on better;
- **scales + bias** (vector scaling, Guo et al. 2017): T, one scale and one bias per class, softmax(scale * logits
  / T + bias): where one class's logit means something else on this domain than in the training mix. On Portuguese
  shop reviews (3 classes from stars) the model's *neutral* logit says little about a 3-star review: a scale per
  class took held-out ECE 0.059 -> 0.037 and accuracy 0.786 -> 0.805 where temperature + bias could not
  (bench/calibration.py).

Each is fitted on one half of the messages and scored on the other (two folds, stratified); the one with the lower
held-out log-loss (a proper scoring rule: ECE alone is noisy at a few hundred messages) is recommended, with the
held-out ECE and accuracy of each; a richer calibrator only when its gain over the simpler one is more than two
standard errors of the paired per-message difference (otherwise the simpler one is kept: temperature, then
temperature + bias, then scales + bias). It prints the config lines, keyed by
model version, so a calibration never silently applies to another model: a newly promoted model serves with its
own temperature until it is calibrated too (the bot logs which calibration it serves with, /healthz shows it):

    [model.temperatures]
    "<model version>" = 1.234
    [model.biases."<model version>"]      # only when temperature + bias, or scales + bias, is chosen
    negative = 0.8
    positive = -0.8
    [model.scales."<model version>"]      # only when scales + bias is chosen (geometric mean 1)
    negative = 1.2
    positive = 0.8333

Thresholds stay the model's: a calibrated probability means what it says, so a threshold of 0.9 now means 90% on
this business's messages. With binary labels (negative/positive) only those two columns are fitted; the neutral
column keeps bias 0, scale 1 and the shared temperature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from finetune.calibrate import (expected_calibration_error, fit_scales_and_bias, fit_temperature,
                                fit_temperature_and_bias, log_losses, on_columns, softmax)

MIN_MESSAGES = 100      # below this a fitted temperature (and its ECE) is mostly noise
CALIBRATORS = ("auto", "temperature", "temperature+bias", "scales+bias")   # simplest first


class CalibrationDataError(ValueError):
    """The labelled messages cannot calibrate this model (too few, or labels the model lacks)."""


@dataclass(frozen=True)
class HeldOut:
    """How a calibrator did on the messages it was not fitted on (two folds, weighted by fold size)."""
    ece: float
    nll: float
    accuracy: float


@dataclass(frozen=True)
class DomainCalibration:
    model_version: str
    temperature: float
    messages: int
    classes: list[str]
    ece_model: float            # two-fold held-out ECE with the model's own temperature
    ece_calibrated: float       # two-fold held-out ECE of the chosen calibrator
    biases: dict[str, float] = field(default_factory=dict)     # empty: temperature only
    held_out: dict[str, HeldOut] = field(default_factory=dict)  # "model" and each of CALIBRATORS[1:]
    scales: dict[str, float] = field(default_factory=dict)     # empty: one temperature for every class

    @property
    def method(self) -> str:
        return "scales+bias" if self.scales else "temperature+bias" if self.biases else "temperature"

    def toml_line(self) -> str:
        """The temperature table's entry; the key is JSON-quoted, a valid TOML basic string for any version."""
        return f"{json.dumps(self.model_version)} = {self.temperature:.4f}\n"

    def toml(self) -> str:
        text = "[model.temperatures]\n" + self.toml_line()
        if self.biases:
            text += f"[model.biases.{json.dumps(self.model_version)}]\n" + "".join(
                f"{json.dumps(label)} = {b:.4f}\n" for label, b in self.biases.items())
        if self.scales:
            text += f"[model.scales.{json.dumps(self.model_version)}]\n" + "".join(
                f"{json.dumps(label)} = {v:.4f}\n" for label, v in self.scales.items())
        return text


def _folds(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded, stratified 0/1 fold per message."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    for k in np.unique(y):
        idx = rng.permutation(np.nonzero(y == k)[0])
        fold[idx[: len(idx) // 2]] = 1
    return fold


def _fit(method: str, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(T, scales, bias) of ``method``; scales 1 and bias 0 where the calibrator has none."""
    ones, zeros = np.ones(logits.shape[1]), np.zeros(logits.shape[1])
    if method == "temperature":
        return fit_temperature(logits, y), ones, zeros
    if method == "temperature+bias":
        t, bias = fit_temperature_and_bias(logits, y)
        return t, ones, bias
    return fit_scales_and_bias(logits, y)


def _held_out(logits: np.ndarray, y: np.ndarray, fold: np.ndarray, fit) -> tuple[HeldOut, np.ndarray]:
    """Two-fold scores and the per-message held-out log-loss (for the paired comparison of calibrators)."""
    ece = correct = 0.0
    losses = np.zeros(len(y))
    for held in (0, 1):
        train, test = fold != held, fold == held
        t, scales, bias = fit(logits[train], y[train])
        p = softmax(scales * logits[test] / t + bias)
        ece += expected_calibration_error(p, y[test]) * test.sum()
        losses[test] = log_losses(p, y[test])
        correct += float((p.argmax(1) == y[test]).sum())
    return HeldOut(ece=ece / len(y), nll=float(losses.mean()), accuracy=correct / len(y)), losses


def pays_off(loss_simpler: np.ndarray, loss_richer: np.ndarray, z: float = 2.0) -> bool:
    """Whether the richer calibrator predicts held-out messages better than the simpler one by more than chance:
    the mean paired log-loss gain exceeds ``z`` standard errors. The simpler calibrator is kept otherwise, so biases
    and scales (which move decisions) are only served for a lean the data shows, not for noise."""
    gain = loss_simpler - loss_richer
    if len(gain) < 2:
        return False
    return bool(gain.mean() > z * gain.std(ddof=1) / np.sqrt(len(gain)))


def calibrate(classifier, texts: list[str], truth: list[str], method: str = "auto") -> DomainCalibration:
    """Fit a calibration for ``classifier`` on (texts, truth); truth may use a subset of its labels.

    ``method``: "temperature", "temperature+bias", "scales+bias", or "auto": from the simplest, each richer
    calibrator in turn replaces the one kept so far where its two-fold held-out log-loss is lower beyond chance
    (``pays_off``)."""
    if method not in CALIBRATORS:
        raise CalibrationDataError(f"calibrator {method!r}; known: {', '.join(CALIBRATORS)}")
    if len(texts) < MIN_MESSAGES:
        raise CalibrationDataError(f"{len(texts)} labelled messages; calibrating needs at least {MIN_MESSAGES}")
    unknown = sorted(set(truth) - set(classifier.labels))
    if unknown:
        raise CalibrationDataError(f"label(s) {unknown} are not the model's ({classifier.labels})")
    classes = [label for label in classifier.labels if label in set(truth)]
    if len(classes) < 2:
        raise CalibrationDataError(f"the messages carry one label only ({classes}); calibrating needs two or more")
    try:
        logits, y = on_columns(classifier.logits(texts), classifier.labels, classes, truth)
    except ValueError as exc:
        raise CalibrationDataError(str(exc)) from None
    fold = _folds(y)
    scored = {"model": _held_out(logits, y, fold, lambda x, _: (classifier.model_temperature, 1.0, 0.0))}
    for name in CALIBRATORS[1:]:
        scored[name] = _held_out(logits, y, fold, lambda x, yy, name=name: _fit(name, x, yy))
    held_out = {name: score for name, (score, _) in scored.items()}
    if method == "auto":
        method = CALIBRATORS[1]
        for richer in CALIBRATORS[2:]:
            if pays_off(scored[method][1], scored[richer][1]):
                method = richer
    chosen = method
    t, scale, bias = _fit(chosen, logits, y)
    biases = {label: float(b) for label, b in zip(classes, bias)} if chosen != "temperature" else {}
    scales = {label: float(v) for label, v in zip(classes, scale)} if chosen == "scales+bias" else {}
    return DomainCalibration(model_version=classifier.version, temperature=t, messages=len(y), classes=classes,
                             ece_model=held_out["model"].ece, ece_calibrated=held_out[chosen].ece, biases=biases,
                             held_out=held_out, scales=scales)
