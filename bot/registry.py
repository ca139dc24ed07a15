"""The model registry: which models the bot may serve, how each scored, which one serves now, and its history.

    feedbackbot models add DIR            # register a finetune run's model (or adapter) dir; scores it
    feedbackbot models list
    feedbackbot models promote VERSION    # refused if worse beyond [models] max_regression on any suite
    feedbackbot models rollback           # back to the version that served before

Versions live in the feedback store (tables ``model_versions`` and ``model_events``), so every replica on one
PostgreSQL sees the same serving version; running bots follow it without a restart (bot.reloader).

Scores: accuracy on fixed held-out suites, computed once when a version is added, with the same code for every
version: the behaviour suite (data/behaviour: overall, per capability and per language, never trained on) and the
labelled files given with ``--suite NAME=FILE`` (e.g. the newest operator labels held out by time). A candidate that
is worse than the serving model by more than ``max_regression`` on any suite both have is refused unless forced.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from .store import ModelEvent, ModelVersion, Store

SERVING, CANDIDATE, RETIRED = "serving", "candidate", "retired"


class RegistryError(ValueError):
    """A registry request that cannot be carried out (unknown version, a regression, nothing to roll back to)."""


@dataclass(frozen=True)
class Comparison:
    suite: str
    serving: float
    candidate: float

    @property
    def change(self) -> float:
        return self.candidate - self.serving


def evaluate(classifier, suites: dict[str, tuple[list[str], list[str]]] | None = None) -> dict[str, float]:
    """Accuracy per suite: the behaviour suite (overall, ``capability:*``, ``language:*``, ``domain:*``) and ``suites``
    (name -> (texts, labels)). Cases whose label the model cannot answer are skipped by score_suite."""
    from finetune.behaviour import load_suite, score_suite

    predict = lambda texts: [p.label for p in classifier.predict(list(texts))]  # noqa: E731
    cases = load_suite()
    result = score_suite(predict, cases, labels=classifier.labels)
    scores = {"behaviour": result["accuracy"]}
    scores.update({f"capability:{k}": v["accuracy"] for k, v in result["by_capability"].items()})
    scores.update({f"language:{k}": v["accuracy"] for k, v in result["by_language"].items()})
    missed: dict[str, int] = {}
    for miss in result["misses"]:
        domain = next(c.domain for c in cases if c.text == miss["text"])
        missed[domain] = missed.get(domain, 0) + 1
    for domain in sorted({c.domain for c in cases if c.label in classifier.labels and c.domain}):
        n = sum(1 for c in cases if c.domain == domain and c.label in classifier.labels)
        scores[f"domain:{domain}"] = 1 - missed.get(domain, 0) / n
    for name, (texts, labels) in (suites or {}).items():
        predicted = predict(texts)
        scores[name] = sum(p == y for p, y in zip(predicted, labels)) / max(1, len(labels))
    return scores


def compare(serving: dict[str, float], candidate: dict[str, float]) -> list[Comparison]:
    return [Comparison(suite, serving[suite], candidate[suite]) for suite in sorted(serving) if suite in candidate]


class Registry:
    def __init__(self, store: Store):
        self.store = store

    def versions(self) -> list[dict]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(ModelVersion.__table__).order_by(ModelVersion.created_at)).all()
        return [dict(r._mapping) for r in rows]

    def get(self, version: str) -> dict:
        found = [v for v in self.versions() if v["version"] == version]
        if not found:
            raise RegistryError(f"no model version {version!r}; see `feedbackbot models list`")
        return found[0]

    def serving(self) -> dict | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(ModelVersion.__table__).where(ModelVersion.status == SERVING)).first()
        return None if row is None else dict(row._mapping)

    def add(self, version: str, path: Path, labels: list[str], scores: dict[str, float], card: dict,
            serve: bool = False) -> None:
        """Register a version; the first one registered serves (``serve``: make it serve now, as the start)."""
        if any(v["version"] == version for v in self.versions()):
            raise RegistryError(f"version {version!r} is already registered")
        first = self.serving() is None
        with self.store.engine.begin() as conn:
            conn.execute(ModelVersion.__table__.insert(), {
                "version": version, "path": str(path), "labels": labels, "scores": scores, "card": card,
                "status": SERVING if first or serve else CANDIDATE})
            conn.execute(ModelEvent.__table__.insert(), {"action": "add", "version": version, "by": _who()})
        if serve and not first:
            self.promote(version, force=True)

    def promote(self, version: str, max_regression: float = 0.02, force: bool = False) -> list[Comparison]:
        """Make ``version`` the serving model. Refused (RegistryError listing the suites) when it is worse than the
        serving model by more than ``max_regression`` on any suite both were scored on, unless ``force``."""
        candidate, serving = self.get(version), self.serving()
        if serving is not None and serving["version"] == version:
            raise RegistryError(f"{version} is already serving")
        if serving is not None and candidate["labels"] != serving["labels"]:
            raise RegistryError(f"{version} answers {candidate['labels']}, the serving model {serving['labels']}: a "
                                "different label set needs new templates and a restart, not a hot swap")
        comparisons = compare(serving["scores"], candidate["scores"]) if serving else []
        worse = [c for c in comparisons if c.change < -max_regression]
        if worse and not force:
            raise RegistryError("refused: worse than the serving model on " + ", ".join(
                f"{c.suite} ({c.serving:.3f} -> {c.candidate:.3f})" for c in worse) + "; --force to promote anyway")
        self._switch(version, serving["version"] if serving else None, "promote", force and bool(worse))
        return comparisons

    def rollback(self) -> str:
        """Serve again the version that served before the current one; returns it."""
        serving = self.serving()
        with self.store.engine.connect() as conn:
            events = conn.execute(select(ModelEvent.__table__).where(ModelEvent.action.in_(["promote", "rollback"]))
                                  .order_by(ModelEvent.id.desc())).all()
        last = next((e for e in events if serving and e.version == serving["version"]), None)
        if last is None or not last.previous:
            raise RegistryError("nothing to roll back to: no earlier serving version recorded")
        self._switch(last.previous, serving["version"], "rollback", False)
        return last.previous

    def _switch(self, version: str, previous: str | None, action: str, forced: bool) -> None:
        table = ModelVersion.__table__
        with self.store.engine.begin() as conn:      # one transaction: replicas never see two serving versions
            if previous:
                conn.execute(update(table).where(table.c.version == previous).values(status=RETIRED))
            conn.execute(update(table).where(table.c.version == version).values(status=SERVING))
            conn.execute(ModelEvent.__table__.insert(), {"action": action, "version": version, "previous": previous,
                                                         "forced": int(forced), "by": _who()})


def _who() -> str:
    try:
        return getpass.getuser()[:64]
    except Exception:   # no user name in some containers: the audit trail says so rather than failing
        return "unknown"
