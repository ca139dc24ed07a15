"""bench/accuracy.py: the bootstrap interval of a set's primary metric brackets it and narrows with more messages."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from accuracy import primary_interval  # noqa: E402

from finetune.metrics import classification_metrics  # noqa: E402


def _noisy(n: int, classes: int, right: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    wrong = rng.random(n) > right
    return y, np.where(wrong, (y + 1) % classes, y)


def test_the_interval_brackets_the_metric_and_narrows_with_n():
    for classes in (2, 3):
        widths = []
        for n in (200, 5000):
            y, pred = _noisy(n, classes, 0.8)
            point = (classification_metrics(y, pred, [str(i) for i in range(classes)])["macro_f1"] if classes == 3
                     else float((y == pred).mean()))
            low, high = primary_interval(y, pred, classes, rounds=300)
            assert low < point < high
            widths.append(high - low)
        assert widths[1] < widths[0] / 3          # 25x the messages: about a fifth of the width


def test_perfect_predictions_have_no_spread_and_the_interval_is_seeded():
    y = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    assert primary_interval(y, y, 3, rounds=50) == (1.0, 1.0)
    y, pred = _noisy(300, 2, 0.7)
    assert primary_interval(y, pred, 2, seed=4) == primary_interval(y, pred, 2, seed=4)
