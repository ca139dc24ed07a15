"""Forward passes by length: every message once, bounded size, little padding, and in-order results."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.classifier import Classifier, length_passes


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=128), max_size=200), st.integers(min_value=1, max_value=40))
def test_every_message_lands_in_exactly_one_small_well_filled_pass(lengths, max_size):
    passes = length_passes(lengths, max_size, min_fill=0.8)
    assert sorted(i for rows in passes for i in rows) == list(range(len(lengths)))
    for rows in passes:
        assert 1 <= len(rows) <= max_size
        widths = [lengths[i] for i in rows]
        assert widths == sorted(widths)
        if len(rows) > 1:   # a pass of one pads nothing; larger ones are >= 80% real tokens
            assert sum(widths) >= 0.8 * max(widths) * len(rows)


def test_lengths_far_apart_get_their_own_passes():
    assert length_passes([5, 60, 5, 6, 61], 8) == [[0, 2, 3], [1, 4]]
    assert length_passes([7] * 10, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_logits_come_back_in_input_order_whatever_the_passes(tiny_model_dir):
    texts = ["ok", "the delivery was late again and nobody told me why " * 3, "love it", "meh",
             "where is my order? I have been waiting for two weeks now"]
    one_by_one = Classifier(tiny_model_dir, max_length=48, batch_size=1, backend="torch")
    grouped = Classifier(tiny_model_dir, max_length=48, batch_size=8, backend="torch")
    expected = np.concatenate([one_by_one.logits([t]) for t in texts])
    assert np.allclose(grouped.logits(texts), expected, atol=1e-5)
