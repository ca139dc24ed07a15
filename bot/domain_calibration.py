"""`feedbackbot calibrate`: a temperature fitted on a business's own labelled messages.

A model's temperature is fitted on its training mix's validation split, so its confidence is calibrated for that
mix: on the domains and languages it was not fitted on, ECE measured 0.03-0.19 on the test halves (bench/accuracy.py). Calibration is
relative to a distribution; the one that matters is the business's own. From a few hundred labelled messages of it
(`feedbackbot export --labelled`, or any CSV/JSONL of text,label) this fits one temperature, shows the ECE it buys
measured on messages it was not fitted on (two-fold), and prints the lines that make the bot use it:

    [model.temperatures]
    "<model version>" = 1.234

keyed by the model version, so a temperature never silently applies to another model: a newly promoted model
serves with its own temperature until it is calibrated too (the bot logs which temperature it serves with).
Thresholds stay the model's: a calibrated probability means what it says, so a threshold of 0.9 now means 90% on
this business's messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from finetune.calibrate import expected_calibration_error, fit_temperature, on_columns, softmax

MIN_MESSAGES = 100      # below this a fitted temperature (and its ECE) is mostly noise


class CalibrationDataError(ValueError):
    """The labelled messages cannot calibrate this model (too few, or labels the model lacks)."""


@dataclass(frozen=True)
class DomainCalibration:
    model_version: str
    temperature: float
    messages: int
    classes: list[str]
    ece_model: float            # two-fold held-out ECE with the model's own temperature
    ece_calibrated: float       # two-fold held-out ECE with a temperature fitted on the other fold

    def toml_line(self) -> str:
        """The table entry; the key is JSON-quoted, which is a valid TOML basic string for any version."""
        return f"{json.dumps(self.model_version)} = {self.temperature:.4f}\n"

    def toml(self) -> str:
        return "[model.temperatures]\n" + self.toml_line()


def _folds(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded, stratified 0/1 fold per message."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    for k in np.unique(y):
        idx = rng.permutation(np.nonzero(y == k)[0])
        fold[idx[: len(idx) // 2]] = 1
    return fold


def calibrate(classifier, texts: list[str], truth: list[str]) -> DomainCalibration:
    """Fit a temperature for ``classifier`` on (texts, truth); truth may use a subset of its labels."""
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
    ece_model, ece_fitted = [], []
    for held in (0, 1):
        fit, test = fold != held, fold == held
        t = fit_temperature(logits[fit], y[fit])
        ece_fitted.append(expected_calibration_error(softmax(logits[test], t), y[test]) * test.sum())
        ece_model.append(expected_calibration_error(softmax(logits[test], classifier.model_temperature), y[test])
                         * test.sum())
    return DomainCalibration(model_version=classifier.version, temperature=fit_temperature(logits, y),
                             messages=len(y), classes=classes, ece_model=sum(ece_model) / len(y),
                             ece_calibrated=sum(ece_fitted) / len(y))
