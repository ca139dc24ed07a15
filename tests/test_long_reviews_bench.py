"""bench/long_reviews.py: the served rule is the classifier's own, and the alternatives do what their names say."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from long_reviews import RULES, SERVED_CHUNKS, window_logits  # noqa: E402

from bot.classifier import Classifier  # noqa: E402


def test_the_served_rule_reproduces_the_classifier_on_long_texts(tiny_model_dir):
    clf = Classifier(tiny_model_dir, max_length=32, max_chunks=SERVED_CHUNKS)
    texts = ["the courier was late again and nobody answered the phone " * 30, "love the new app",
             "checkout was smooth " * 12]
    logits, counts = window_logits(clf, texts, clf.max_length)
    assert len(logits[0]) > SERVED_CHUNKS and len(logits[1]) == 1       # uncapped: every window of the long one
    served = RULES["token-weighted mean of logits (served)"]
    combined = np.array([served(z[:SERVED_CHUNKS], n[:SERVED_CHUNKS], clf.temperature)
                         for z, n in zip(logits, counts)])
    assert np.allclose(combined, clf.logits(texts), atol=1e-5)


def test_the_alternative_rules_read_the_windows_their_names_say():
    z = np.arange(30, dtype=float).reshape(10, 3)       # ten windows, the last one distinct
    n = np.full(10, 100.0)
    assert np.allclose(RULES["first window only (truncation)"](z, n, 1.0), z[0])
    assert np.allclose(RULES["first 7 windows + the last"](z, n, 1.0), np.r_[z[:7], z[-1:]].mean(0))
    assert np.allclose(RULES["all windows, token-weighted"](z, n, 1.0), z.mean(0))
    doubled = RULES["last window weighted x2"](z[:3], n[:3], 1.0)
    assert np.allclose(doubled, (z[0] + z[1] + 2 * z[2]) / 4)
    probs = np.exp(RULES["token-weighted mean of probabilities"](z[:2], n[:2], 1.0))
    assert np.isclose(probs.sum(), 1.0)
