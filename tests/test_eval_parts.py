"""Held-out files are cut into a validation half (choose between models) and a test half (report the chosen one)."""

from collections import Counter

import pytest

from finetune.eval_parts import selection_part


def _rows(n_pos=101, n_neg=57):
    return [(f"good {i}", "positive") for i in range(n_pos)] + [(f"bad {i}", "negative") for i in range(n_neg)]


def test_halves_are_disjoint_cover_the_file_and_keep_its_order():
    rows = _rows()
    validation, test = selection_part(rows, "validation"), selection_part(rows, "test")
    assert not set(validation) & set(test)
    assert sorted(validation + test) == sorted(rows)
    assert validation == [r for r in rows if r in set(validation)]      # file order kept


def test_halves_are_stratified_by_label_and_half_the_size():
    rows = _rows()
    validation = Counter(label for _, label in selection_part(rows, "validation"))
    assert abs(validation["positive"] - 101 / 2) <= 1 and abs(validation["negative"] - 57 / 2) <= 1


def test_the_cut_is_seeded_the_same_every_run_and_there_is_no_train_part():
    rows = _rows()
    assert selection_part(rows, "test") == selection_part(list(rows), "test")
    with pytest.raises(ValueError, match="part must be one of"):
        selection_part(rows, "train")
