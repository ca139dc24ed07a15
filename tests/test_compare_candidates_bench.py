"""bench/compare_candidates.py: the paired bootstrap of the selection score's difference."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from compare_candidates import paired_difference  # noqa: E402


def _part(y, pred, classes):
    return {"classes": classes, "y": [int(v) for v in y], "pred": [int(v) for v in pred]}


def _model(rng, n, right, classes=3):
    y = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < right, y, (y + 1) % classes)
    return y, pred


def test_a_model_against_itself_is_an_exact_tie():
    rng = np.random.default_rng(0)
    y, pred = _model(rng, 500, 0.8)
    parts = {"a": _part(y, pred, 3), "b": _part(y > 0, pred > 0, 2)}
    out = paired_difference(parts, parts, rounds=200)
    assert out["difference"] == 0 and out["interval"] == [0.0, 0.0] and out["share_of_rounds_ahead"] == 0


def test_a_clear_lead_is_ahead_and_a_tiny_one_is_a_tie():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    base = np.where(rng.random(2000) < 0.75, y, 1 - y)
    better = np.where(rng.random(2000) < 0.5, y, base)          # fixes about half of the base's errors
    one_more = base.copy()
    one_more[np.flatnonzero(base != y)[0]] = y[np.flatnonzero(base != y)[0]]   # a single message fixed
    baseline = {"p": _part(y, base, 2)}
    clear = paired_difference({"p": _part(y, better, 2)}, baseline, rounds=300)
    assert clear["interval"][0] > 0.05 and clear["share_of_rounds_ahead"] == 1.0
    tiny = paired_difference({"p": _part(y, one_more, 2)}, baseline, rounds=300)
    assert tiny["difference"] == pytest.approx(1 / 2000)
    assert tiny["interval"][0] <= 0 < tiny["interval"][1]


def test_the_difference_is_the_mean_over_parts_of_each_parts_difference():
    rng = np.random.default_rng(2)
    y3, p3 = _model(rng, 300, 0.7)
    y2 = rng.integers(0, 2, 300)
    good, bad = _part(y2, y2, 2), _part(y2, 1 - y2, 2)        # accuracy 1 vs 0 on the binary part
    out = paired_difference({"m": _part(y3, p3, 3), "b": good}, {"m": _part(y3, p3, 3), "b": bad}, rounds=50)
    assert out["per_part"] == {"m": 0.0, "b": 1.0} and out["difference"] == pytest.approx(0.5)


def test_models_read_on_different_messages_are_refused():
    y, pred = np.array([0, 1, 2]), np.array([0, 1, 1])
    with pytest.raises(ValueError, match="different messages"):
        paired_difference({"a": _part(y, pred, 3)}, {"a": _part(y[::-1], pred, 3)})
    with pytest.raises(ValueError, match="different parts"):
        paired_difference({"a": _part(y, pred, 3)}, {"b": _part(y, pred, 3)})


def test_kept_predictions_are_reused_only_for_the_same_model_version(tmp_path, monkeypatch):
    """A new default keeps the name "default": its predictions must be read again, not taken from the file the
    previous default left (which would compare a candidate against the wrong model)."""
    import argparse
    import json

    import bot.classifier
    import bot.model_source
    import compare_candidates

    reads = []
    monkeypatch.setattr(compare_candidates, "read_model",
                        lambda spec, *a: reads.append(spec) or {"version": "v-new", "parts": {}})
    monkeypatch.setattr(bot.model_source, "resolve_model_dir", lambda spec: tmp_path / spec)
    monkeypatch.setattr(bot.classifier, "model_version", lambda model_dir, meta=None: "v-new")
    args = argparse.Namespace(out=tmp_path, imdb_limit=1000, limit=1000, backend="onnx-int8")
    kept = tmp_path / "validation-predictions-default.json"
    kept.write_text(json.dumps({"version": "v-old", "parts": {}, "imdb_limit": 1000, "limit": 1000,
                                "backend": "onnx-int8", "name": "default"}))
    assert compare_candidates._cached("default", args)["version"] == "v-new" and reads == ["default"]
    assert json.loads(kept.read_text())["version"] == "v-new"          # the fresh read replaced the stale one
    assert compare_candidates._cached("default", args)["version"] == "v-new" and reads == ["default"]  # reused
