"""Drift of recent feedback against the serving model's data (bot/drift.py)."""

from datetime import datetime, timedelta, timezone

from bot.drift import measure
from bot.store import Store, TurnRecord

META = {"data": {"stats": {"class_counts": {"negative": 60, "neutral": 20, "positive": 20}}},
        "thresholds": {"coverage": 0.6}}


def _turn(label, band, kind="feedback", n=0):
    return TurnRecord(conversation_id=f"c{n}", channel="api", text=f"t{n}", kind=kind, label=label,
                      probabilities={label: 0.9} if label else None, band=band, template="x", reply="y",
                      latency_ms=1.0, model_version="m")


def test_a_mix_like_the_models_data_is_no_drift(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    for n, (label, band) in enumerate([("negative", "high")] * 6 + [("neutral", "high")] * 2 + [("positive", "low")] * 2):
        store.record_turn(_turn(label, band, n=n))
    store.record_turn(_turn(None, None, kind="greeting", n=99))        # not feedback: not counted
    drift = measure(store, META)
    assert drift.messages == 10 and abs(drift.label_distance) < 1e-9 and drift.confident_share == 0.8
    assert drift.warnings == []


def test_a_new_mix_and_fewer_confident_replies_warn(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    for n in range(10):
        store.record_turn(_turn("positive", "low" if n < 8 else "high", n=n))
    drift = measure(store, META)
    assert round(drift.label_distance, 2) == 0.8 and drift.confident_share == 0.2
    assert len(drift.warnings) == 2 and "label mix" in drift.warnings[0] and "confident" in drift.warnings[1]
    later = measure(store, META, now=datetime.now(timezone.utc) + timedelta(days=8))   # outside the window
    assert later.messages == 0 and later.warnings == []
