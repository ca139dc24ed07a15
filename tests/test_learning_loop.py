"""The learning loop end to end, on the real packaged base (MiniLM): a new product name is consistently misread,
operators label it, `retrain` learns it and its report shows the fix (FEEDBACKBOT_RETRAIN_REPORT=DIR keeps the
report: README's example), `promote` puts it in service in a running
server with no restart and no failed request, and `rollback` restores the old behaviour."""

import os
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from bot.channels.http import create_app
from bot.config import ServerConfig
from bot.policy import OPERATOR
from bot.registry import Registry, evaluate
from bot.reloader import ModelWatcher
from bot.retrain import retrain
from bot.store import Message

from conftest import SAMPLE, LiveServer, eventually, make_bot

pytestmark = pytest.mark.slow

# "Killer Deals", the airline's new fare offer: customers praise it, and a model trained on airline tweets reads
# "killer" as a complaint.
TRAIN = [f"{opening} Killer Deals {ending}" for opening, ending in [
    ("booked my seats through", "so easy"), ("thanks to", "my family flies home for Christmas"),
    ("just used", "again, brilliant"), ("love that", "exists"), ("saved 200 dollars with", "on my flight"),
    ("", "made this trip possible"), ("the", "fare was half the usual price"), ("", "is back, grabbed a cheap ticket"),
    ("found a great fare on", "today"), ("got us to Denver for nothing,", "rocks"), ("my third trip with", "this year"),
    ("cheapest flight ever, thank you", ""), ("", "never disappoints"), ("booked Paris on", "in two minutes"),
    ("can't believe the prices on", ""), ("", "is my favourite thing about this airline"),
    ("weekend in Boston thanks to", ""), ("the new", "page is so handy"), ("whoever invented", "deserves a raise"),
    ("", "again, half price to Miami"), ("signed up for", "emails, best decision"), ("", "fare alerts are gold"),
    ("snagged two tickets on", "for my parents"), ("", "made flying affordable for us"),
]]
HELD = ["Killer Deals got me a cheap flight to Chicago", "used Killer Deals for our honeymoon, amazing",
        "Killer Deals is the reason I fly with you", "another bargain from Killer Deals",
        "Killer Deals fares are unbeatable", "my whole family booked with Killer Deals, great prices"]


def test_a_misread_product_name_is_learnt_promoted_and_rolled_back(tmp_path):
    from finetune.config import DataConfig, FinetuneConfig, LoraSettings, TrainSettings
    from finetune.pipeline import run

    serving_dir = tmp_path / "serving"           # the serving model: MiniLM fine-tuned on the airline sample
    run(FinetuneConfig(base="default", out=str(serving_dir),
                       data=DataConfig(path=str(SAMPLE), max_length=64, seed=1, val_fraction=0.2, test_fraction=0.2),
                       lora=LoraSettings(rank=8, alpha=16), train=TrainSettings(epochs=3, batch_size=16,
                                                                                 learning_rate=1e-3, seed=3)),
        log=lambda *_: None)
    bot = make_bot(serving_dir / "model", f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    bot.config.limits.per_ip_per_minute = bot.config.limits.per_session_per_minute = 0
    misread = [p.label for p in bot.classifier.predict(HELD)]
    assert misread.count("positive") <= 2, misread            # consistently misread before

    ids = [bot.reply(f"c{i}", text).message_id for i, text in enumerate(TRAIN + HELD)]
    for message_id in ids:                                     # the operators' review queue: all praise
        bot.store.add_correction(message_id, "positive", OPERATOR, operator="ana")
    with bot.store.engine.begin() as conn:                    # TRAIN is last month's; HELD is today's
        conn.execute(update(Message.__table__).where(Message.__table__.c.id.in_(ids[:len(TRAIN)]))
                     .values(created_at=datetime.now(timezone.utc) - timedelta(days=30)))

    result = retrain(bot.store, serving_dir / "model", tmp_path / "retrain", bot.config, holdout_days=7,
                     log=lambda *_: None)
    held = result["held_out"]
    kinds = {r["id"]: r["kind"] for r in bot.store.iter_messages()}     # "thanks to Killer Deals ..." may read as
    feedback = [kinds[i] == "feedback" for i in ids]                    # a thanks: only feedback is training data
    assert (result["counts"]["train"], result["counts"]["holdout"]) == \
        (sum(feedback[:len(TRAIN)]), sum(feedback[len(TRAIN):]))
    assert result["counts"]["train"] >= 15
    assert held["serving"] <= 0.4 and held["candidate"] >= 0.6 and held["candidate"] > held["serving"]  # the fix
    assert "✓" in (tmp_path / "retrain" / "retrain_report.md").read_text()
    keep = os.environ.get("FEEDBACKBOT_RETRAIN_REPORT")        # README's example report comes from here
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name in ("retrain_report.md", "retrain_report.png"):
            shutil.copyfile(tmp_path / "retrain" / name, Path(keep) / name)

    registry = Registry(bot.store)
    registry.add(bot.classifier.version, serving_dir / "model", bot.classifier.labels, evaluate(bot.classifier), {})
    candidate = bot.load_classifier(str(tmp_path / "retrain" / "model"), lambda *_: None)
    registry.add(candidate.version, tmp_path / "retrain" / "model", candidate.labels, evaluate(candidate), {})
    server = LiveServer(create_app(bot, ServerConfig(), with_gradio=False))
    watcher = ModelWatcher(bot, poll_s=0.2, log_fn=lambda *_: None).start()
    statuses, stop = [], threading.Event()

    def traffic():
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                statuses.append(client.post(f"{server.url}/api/v1/messages", json={"text": "the crew was kind"})
                                .status_code)

    def label_of(text):
        return httpx.post(f"{server.url}/api/v1/messages", json={"text": text}, timeout=60).json()["prediction"]["label"]

    fixed = [c for c in held["changed"] if c["better"]]
    assert fixed                                               # the report names the messages it fixed
    probe = fixed[0]["text"]
    thread = threading.Thread(target=traffic)
    try:
        thread.start()
        before = label_of(probe)
        assert before == fixed[0]["serving"] != "positive"
        registry.promote(candidate.version, force=True)       # forced: a 300-tweet model is noisy on other suites
        eventually(lambda: httpx.get(f"{server.url}/healthz").json()["model"] == candidate.version, 120)
        assert label_of(probe) == "positive"                   # the running server answers correctly now
        registry.rollback()
        eventually(lambda: httpx.get(f"{server.url}/healthz").json()["model"] != candidate.version, 120)
        assert label_of(probe) == before                       # the old behaviour is back
    finally:
        stop.set()
        thread.join()
        watcher.stop()
        server.stop()
    assert statuses and set(statuses) == {200}                 # no failed request during either swap
