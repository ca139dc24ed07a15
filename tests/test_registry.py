"""The model registry (promote / rollback with a regression guard) and hot reload under load, on real models."""

import threading

import httpx
import pytest

from bot.channels.http import create_app
from bot.config import ServerConfig
from bot.registry import Registry, RegistryError, evaluate
from bot.reloader import ModelWatcher
from bot.store import Store

from conftest import LiveServer, eventually, make_bot, tiny_config

LABELS = ["negative", "neutral", "positive"]


def test_promote_refuses_regressions_unless_forced_and_rollback_goes_back(tmp_path):
    registry = Registry(Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}"))
    registry.add("v1", tmp_path, LABELS, {"behaviour": 0.80, "language:de": 0.70}, {})
    assert registry.serving()["version"] == "v1"                    # the first version serves
    registry.add("v2", tmp_path, LABELS, {"behaviour": 0.85, "language:de": 0.60}, {})
    assert registry.get("v2")["status"] == "candidate"
    with pytest.raises(RegistryError, match=r"language:de \(0.700 -> 0.600\)"):
        registry.promote("v2", max_regression=0.02)
    assert registry.serving()["version"] == "v1"
    changes = {c.suite: round(c.change, 3) for c in registry.promote("v2", max_regression=0.02, force=True)}
    assert changes == {"behaviour": 0.05, "language:de": -0.1}
    assert registry.serving()["version"] == "v2" and registry.get("v1")["status"] == "retired"
    assert registry.rollback() == "v1" and registry.serving()["version"] == "v1"
    registry.add("v3", tmp_path, ["bad", "good"], {"behaviour": 0.9}, {})
    with pytest.raises(RegistryError, match="different label set"):
        registry.promote("v3", force=True)
    with pytest.raises(RegistryError, match="already registered"):
        registry.add("v1", tmp_path, LABELS, {}, {})
    with pytest.raises(RegistryError, match="no model version"):
        registry.promote("v9")


def test_a_fresh_registry_has_nothing_to_roll_back_to(tmp_path):
    registry = Registry(Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}"))
    registry.add("v1", tmp_path, LABELS, {}, {})
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()


@pytest.fixture(scope="module")
def second_model(tiny_base, tmp_path_factory):
    """Another model from the same pipeline (another training seed): another version."""
    from finetune.pipeline import run

    out = tmp_path_factory.mktemp("tiny-run-b") / "run"
    cfg = tiny_config(tiny_base, out)
    cfg.train.seed = 11
    run(cfg, log=lambda *_: None)
    return out / "model"


def test_a_promoted_model_is_served_without_a_restart_or_a_failed_request(tiny_model_dir, second_model, tmp_path):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    bot.config.limits.per_ip_per_minute = bot.config.limits.per_session_per_minute = 0
    registry = Registry(bot.store)
    first = bot.classifier
    registry.add(first.version, tiny_model_dir, first.labels, evaluate(first), {})
    other = bot.load_classifier(str(second_model), lambda *_: None)
    assert other.version != first.version
    registry.add(other.version, second_model, other.labels, evaluate(other), {})
    server = LiveServer(create_app(bot, ServerConfig(), with_gradio=False))
    watcher = ModelWatcher(bot, poll_s=0.2, log_fn=lambda *_: None).start()
    results, stop = [], threading.Event()

    def load():
        with httpx.Client(timeout=30) as client:
            n = 0
            while not stop.is_set():
                r = client.post(f"{server.url}/api/v1/messages", json={"text": f"the crew was late {n}"})
                results.append(r.status_code)
                n += 1

    workers = [threading.Thread(target=load) for _ in range(3)]
    try:
        for w in workers:
            w.start()
        health = lambda: httpx.get(f"{server.url}/healthz").json()["model"]  # noqa: E731
        assert health() == first.version
        registry.promote(other.version, force=True)
        eventually(lambda: health() == other.version, 60)
        served_new = len(results)
        eventually(lambda: len(results) > served_new + 5, 60)                    # traffic goes on on the new model
        registry.rollback()
        eventually(lambda: health() == first.version, 60)
    finally:
        stop.set()
        for w in workers:
            w.join()
        watcher.stop()
        server.stop()
    assert results and set(results) == {200}                               # no failed request during the swaps
    versions = [r["model_version"] for r in bot.store.iter_messages()]
    assert first.version in versions and other.version in versions         # each message says who answered it
    assert len(versions) == len(results)                                    # nothing lost



@pytest.mark.slow
def test_replicas_on_one_postgresql_converge_on_the_promoted_version(tiny_model_dir, second_model, postgres_url):
    """Two bots (replicas) share one PostgreSQL store: a promote reaches both, a rollback too."""
    replicas = [make_bot(tiny_model_dir, postgres_url) for _ in range(2)]
    registry = Registry(replicas[0].store)
    with replicas[0].store.engine.begin() as conn:       # the database may be reused across runs
        conn.exec_driver_sql("DELETE FROM model_events")
        conn.exec_driver_sql("DELETE FROM model_versions")
    first = replicas[0].classifier
    other = replicas[0].load_classifier(str(second_model), lambda *_: None)
    registry.add(first.version, tiny_model_dir, first.labels, {"behaviour": 0.5}, {})
    registry.add(other.version, second_model, other.labels, {"behaviour": 0.5}, {})
    watchers = [ModelWatcher(bot, poll_s=0.1, log_fn=lambda *_: None).start() for bot in replicas]
    try:
        registry.promote(other.version)
        eventually(lambda: all(bot.classifier.version == other.version for bot in replicas), 60)
        registry.rollback()
        eventually(lambda: all(bot.classifier.version == first.version for bot in replicas), 60)
    finally:
        for w in watchers:
            w.stop()
