"""Drift: is the feedback the bot sees now still like the data its model was chosen on?

Two signals, each against what the serving model recorded in its feedbackbot.json:
- the label mix: the share of each predicted label over the window vs the class shares of the model's data
  (total variation distance, 0 = the same mix, 1 = disjoint);
- confidence: the share of feedback answered in the "high" band vs the coverage the thresholds were chosen for on
  validation (a model meeting unfamiliar text answers fewer messages confidently).
Either moving more than its limit raises a warning: time to look at the review queue and `feedbackbot retrain`.
Only feedback messages count (greetings and answers are not sentiment), withdrawn ones never.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from .store import Message, Store


@dataclass(frozen=True)
class Drift:
    days: float
    messages: int
    label_mix: dict[str, float]
    reference_mix: dict[str, float]
    label_distance: float               # total variation distance of the two mixes
    confident_share: float | None
    reference_confident_share: float | None
    warnings: list[str] = field(default_factory=list)


def measure(store: Store, model_meta: dict, days: float = 7.0, max_label_distance: float = 0.15,
            max_confidence_drop: float = 0.15, now: datetime | None = None) -> Drift:
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    m = Message.__table__.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(m.label, m.band, func.count()).where(
            m.created_at >= since, m.withdrawn_at.is_(None), m.label.is_not(None),
            (m.kind.is_(None)) | (m.kind == "feedback")).group_by(m.label, m.band)).all()
    total = sum(n for _, _, n in rows)
    counts: dict[str, int] = {}
    for label, _, n in rows:
        counts[label] = counts.get(label, 0) + n
    reference_counts = model_meta.get("data", {}).get("stats", {}).get("class_counts", {})
    reference_total = sum(reference_counts.values())
    labels = sorted(set(counts) | set(reference_counts))
    mix = {k: counts.get(k, 0) / total for k in labels} if total else {}
    reference = {k: reference_counts.get(k, 0) / reference_total for k in labels} if reference_total else {}
    distance = 0.5 * sum(abs(mix.get(k, 0.0) - reference.get(k, 0.0)) for k in labels) if mix and reference else 0.0
    confident = sum(n for _, band, n in rows if band == "high") / total if total else None
    reference_confident = model_meta.get("thresholds", {}).get("coverage")
    warnings = []
    if total and reference and distance > max_label_distance:
        warnings.append(f"the label mix of the last {days:g} days differs from the model's data by "
                        f"{distance:.2f} (limit {max_label_distance:.2f})")
    if confident is not None and reference_confident is not None and \
            reference_confident - confident > max_confidence_drop:
        warnings.append(f"only {confident:.0%} of feedback got a confident reply (validation: "
                        f"{reference_confident:.0%}): the model meets unfamiliar text")
    return Drift(days, total, mix, reference, distance, confident, reference_confident, warnings)
