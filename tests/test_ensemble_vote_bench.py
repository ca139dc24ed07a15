"""bench/ensemble_vote.py: the majority vote of trained models, scored like any candidate."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from compare_candidates import paired_difference  # noqa: E402
from ensemble_vote import ensemble_parts, vote  # noqa: E402


def test_the_vote_takes_the_majority_and_a_tie_keeps_the_first_member():
    assert vote([[0, 1, 2, 2], [1, 1, 0, 1], [1, 2, 1, 0]]) == [1, 1, 2, 2]
    assert vote([[2, 0], [2, 1]]) == [2, 0]          # two members: any disagreement is the first member's label
    with pytest.raises(ValueError):
        vote([[0, 1, 2]])


def _members(y, preds):
    return [{"parts": {"set": {"classes": 3, "y": list(y), "pred": list(p)},
                       "behaviour_en": {"classes": 2, "y": [1, 1, 1], "pred": [1, 1, 1]}}} for p in preds]


def test_independent_errors_are_voted_away_and_the_lead_is_measured_against_the_first_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    # three members, each wrong on a different, disjoint fifth of the messages: the vote is always right
    preds = []
    for k in range(3):
        p = y.copy()
        wrong = np.arange(k * 120, (k + 1) * 120)
        p[wrong] = (y[wrong] + 1) % 3
        preds.append(p)
    suites = [{"behaviour_en": (["positive", "neutral", "negative"], labels)} for labels in
              (["positive", "neutral", "positive"], ["positive", "negative", "negative"],
               ["negative", "neutral", "negative"])]
    parts = ensemble_parts(_members(y, preds), suites)
    assert parts["set"]["pred"] == [int(v) for v in y]
    # the suite is voted on labels, then stored as right/wrong: every message has a right majority here
    assert parts["behaviour_en"] == {"classes": 2, "y": [1, 1, 1], "pred": [1, 1, 1]}
    baseline = _members(y, preds)[0]["parts"]
    baseline["behaviour_en"]["pred"] = [1, 1, 0]     # what the first member's own reading got right
    out = paired_difference(parts, baseline, rounds=200)
    assert out["per_part"]["behaviour_en"] == pytest.approx(1 / 3)
    assert out["interval"][0] > 0


def test_members_read_on_different_messages_are_refused():
    y = [0, 1, 2]
    members = _members(y, [y, y])
    members[1]["parts"]["set"]["y"] = [2, 1, 0]
    suites = [{"behaviour_en": (["positive"] * 3, ["positive"] * 3)}] * 2
    with pytest.raises(ValueError, match="different messages"):
        ensemble_parts(members, suites)
