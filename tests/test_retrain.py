"""`feedbackbot retrain` on the tiny model: labels from the store (held out by time), the serving model's recipe,
a report, and the registry hand-off."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from bot.policy import OPERATOR
from bot.registry import Registry, evaluate
from bot.retrain import RetrainError, collect_labels, retrain
from bot.store import Message

from conftest import ALWAYS_HIGH, make_bot

OLD = ["the zap card reader froze again", "the zap terminal is brilliant", "zap checkout took forever",
       "love the zap app", "the zap update broke my login", "zap support fixed it in minutes"]
NEW = ["the zap reader is fast now", "zap crashed twice today"]


def _store_with_labels(bot):
    ids = {}
    for i, text in enumerate(OLD + NEW):
        ids[text] = bot.reply(f"r{i}", text).message_id
    for text in OLD + NEW:                        # an operator labels every one of them
        label = "negative" if any(w in text for w in ("froze", "forever", "broke", "crashed")) else "positive"
        bot.store.add_correction(ids[text], label, OPERATOR, operator="ana")
    month_ago = datetime.now(timezone.utc) - timedelta(days=30)
    with bot.store.engine.begin() as conn:        # the older labels are a month old; NEW are from today
        conn.execute(update(Message.__table__).where(Message.__table__.c.id.in_([ids[t] for t in OLD]))
                     .values(created_at=month_ago))
    return ids


def test_retrain_follows_the_recipe_and_reports_against_the_serving_model(tiny_model_dir, tmp_path):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}", **ALWAYS_HIGH)
    _store_with_labels(bot)
    bot.reply("greet", "Hi")                      # a greeting: never training data
    result = retrain(bot.store, tiny_model_dir, tmp_path / "retrain", bot.config, holdout_days=7, epochs=1,
                     log=lambda *_: None)
    assert result["counts"]["train"] == len(OLD) and result["counts"]["holdout"] == len(NEW)
    assert result["counts"]["sources"] == {"operator": len(OLD)}
    out = tmp_path / "retrain"
    assert (out / "model" / "model.safetensors").is_file() and (out / "retrain_report.png").is_file()
    report = (out / "retrain_report.md").read_text()
    assert "new labels, newest held out" in report and "behaviour" in report and result["candidate"] in report
    assert "Replies the policy would give" in report and "domain:" in report
    assert result["suites"]["new labels, newest held out"][0] == result["held_out"]["serving"]
    assert result["candidate"] != result["serving"]
    meta_extra = (out / "model" / "feedbackbot.json").read_text()
    assert "new_labels.csv" in meta_extra                  # the new labels joined the recipe's training split
    registry = Registry(bot.store)                         # ...and the registry takes it from here
    registry.add(result["serving"], tiny_model_dir, bot.classifier.labels, evaluate(bot.classifier), {})
    candidate = bot.load_classifier(str(out / "model"), lambda *_: None)
    registry.add(candidate.version, out / "model", candidate.labels, evaluate(candidate), {})
    registry.promote(candidate.version, force=True)
    assert registry.serving()["version"] == candidate.version


def test_no_labels_no_retrain_and_recent_labels_are_held_out(tiny_model_dir, tmp_path):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    bot.reply("a", "the crew was lovely")                 # a model label only
    with pytest.raises(RetrainError, match="no new labels"):
        collect_labels(bot.store, tmp_path, 7, include_model=False)
    ids = _store_with_labels(bot)
    counts = collect_labels(bot.store, tmp_path, 7, include_model=False)
    assert (counts["train"], counts["holdout"]) == (len(OLD), len(NEW))
    assert ids and "zap crashed twice today" in (tmp_path / "new_labels_holdout.csv").read_text()


def test_models_add_registers_a_retrain_run_with_its_report(tiny_model_dir, tmp_path, capsys):
    """The CLI path: `feedbackbot models add RUN/model` scores the model and keeps the run's report in its card."""
    import shutil

    from bot.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run_dir / "model")
    (run_dir / "retrain_report.md").write_text("# Retrain\n")
    db = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    assert main(["models", "add", str(run_dir / "model"), "--db", db]) == 0
    assert main(["models", "list", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "added" in listed and "serving" in listed
    from bot.registry import Registry
    from bot.store import Store

    version = Registry(Store(db)).serving()
    assert version["card"]["report"] == str((run_dir / "retrain_report.md").resolve())
    assert "behaviour" in version["scores"] and "domain:hotel" in version["scores"]
