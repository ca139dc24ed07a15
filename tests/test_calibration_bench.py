"""bench/calibration.py's noise floor: the ECE a perfectly calibrated model shows on n messages."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from calibration import noise_floor  # noqa: E402

from finetune.calibrate import expected_calibration_error, softmax  # noqa: E402


def _probs(n, seed=1):
    return softmax(np.random.default_rng(seed).normal(0, 2.0, size=(n, 3)))


def test_the_floor_shrinks_with_more_messages_and_bounds_a_calibrated_model():
    small, large = noise_floor(_probs(80), draws=200), noise_floor(_probs(2000), draws=200)
    assert small[0] > 2 * large[0] > 0           # ECE is biased upwards, more so on few messages
    assert small[0] <= small[1]
    # labels truly drawn from the probabilities: the measured ECE is within the floor's 95th percentile (mostly)
    probs = _probs(500)
    rng = np.random.default_rng(7)
    inside = 0
    for _ in range(40):
        y = np.array([rng.choice(3, p=p) for p in probs])
        inside += expected_calibration_error(probs, y) <= noise_floor(probs, draws=100, seed=3)[1]
    assert inside >= 34
    # an overconfident model (probabilities sharper than the truth) is far above it
    truth = softmax(np.log(probs) / 3.0)
    y = np.array([rng.choice(3, p=p) for p in truth])
    assert expected_calibration_error(probs, y) > 2 * noise_floor(probs, draws=100)[1]
