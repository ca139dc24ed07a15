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


def test_three_classes_read_macro_f1_not_accuracy():
    # 80/10/10 with the errors in the small classes: accuracy stays high, macro-F1 does not
    rng = np.random.default_rng(2)
    y = rng.choice(3, size=2000, p=[0.8, 0.1, 0.1])
    pred = np.where((y > 0) & (rng.random(2000) < 0.6), 0, y)
    accuracy = float((y == pred).mean())
    low, high = primary_interval(y, pred, 3, rounds=300)
    assert high < accuracy - 0.05


def test_a_binary_interval_has_the_width_of_a_95_percent_one():
    y, pred = _noisy(4000, 2, 0.8)
    p = float((y == pred).mean())
    low, high = primary_interval(y, pred, 2)
    normal = 2 * 1.96 * np.sqrt(p * (1 - p) / len(y))
    assert abs((high - low) - normal) < 0.15 * normal
