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


class _FakeClassifier:
    """Always answers 'positive': enough to see which parts a reading covers."""
    labels = ["negative", "neutral", "positive"]
    version = "fake-v1"

    def logits(self, texts):
        return np.tile([0.0, 0.0, 5.0], (len(texts), 1))

    def probabilities(self, logits):
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, texts):
        from types import SimpleNamespace
        return [SimpleNamespace(label="positive") for _ in texts]


def _fake_reading(monkeypatch, tmp_path):
    import bot.model_source
    import compare_candidates

    asked = []
    monkeypatch.setattr(compare_candidates, "served_classifier", lambda model_dir, backend: _FakeClassifier())
    monkeypatch.setattr(bot.model_source, "resolve_model_dir", lambda spec: tmp_path / spec)
    monkeypatch.setattr(compare_candidates, "load_set",
                        lambda s, *a, **k: asked.append(s.name) or (["a", "b"], ["positive", "negative"]))
    return asked


def test_a_reading_limited_to_some_parts_reads_only_those(tmp_path, monkeypatch):
    import compare_candidates

    asked = _fake_reading(monkeypatch, tmp_path)
    read = compare_candidates.read_model("teacher", "torch", None, 10, only=("airline_tweets", "behaviour_en"))
    assert asked == ["airline_tweets"] and set(read["parts"]) == {"airline_tweets", "behaviour_en"}
    assert read["parts"]["airline_tweets"]["pred"] == [2, 2]
    suite = read["parts"]["behaviour_en"]
    assert set(suite["y"]) == {1} and 0 < sum(suite["pred"]) < len(suite["y"])   # right/wrong: some, not all
    asked.clear()
    full = compare_candidates.read_model("teacher", "torch", None, 10)
    assert len(asked) == len(compare_candidates.SETS) and "behaviour_other" in full["parts"]


def test_teacher_vs_student_reads_the_teacher_on_the_named_parts_and_reports_the_gap(tmp_path, monkeypatch):
    import json

    import teacher_vs_student

    asked = _fake_reading(monkeypatch, tmp_path)
    y = [0, 1, 2, 2]
    student = {"version": "student-v", "name": "default",
               "parts": {"airline_tweets": {"classes": 3, "y": [2, 0], "pred": [0, 0]},
                         "imdb": {"classes": 2, "y": y, "pred": y}}}
    monkeypatch.setattr(teacher_vs_student, "_cached", lambda spec, args: student)
    monkeypatch.setattr(sys, "argv", ["teacher_vs_student.py", "--teacher", "runs/t/model", "--parts", "airline_tweets",
                                      "--rounds", "50", "--out", str(tmp_path)])
    teacher_vs_student.main()
    report = json.loads((tmp_path / "teacher_vs_student-t-vs-default.json").read_text())
    # the fake teacher says positive, positive: one of two right; the student negative, negative: the other one
    assert report["parts"] == ["airline_tweets"] and report["teacher"] == "fake-v1"
    assert report["per_part"]["airline_tweets"] == pytest.approx(0.0)
    assert report["student_within_2_points"] is True
    assert report["scores"]["airline_tweets"] == {"teacher": pytest.approx(1 / 3), "student": pytest.approx(1 / 3)}
    import bot.classifier

    monkeypatch.setattr(bot.classifier, "model_version", lambda model_dir, meta=None: "fake-v1")
    asked.clear()
    teacher_vs_student.main()                    # the same teacher, parts and reading: its kept predictions
    assert asked == []
    monkeypatch.setattr(sys, "argv", ["teacher_vs_student.py", "--teacher", "t", "--parts", "nope"])
    with pytest.raises(SystemExit, match="unknown parts"):
        teacher_vs_student.main()
