"""Micro-batching: concurrent single predictions share batches, a lone one is not delayed, errors reach callers."""

import threading
import time

import pytest

from bot.micro_batch import MicroBatcher
from bot.policy import Prediction


class Recorder:
    def __init__(self, delay=0.0, fail_on=None):
        self.calls, self.delay, self.fail_on = [], delay, fail_on

    def __call__(self, texts):
        self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.fail_on and self.fail_on in texts:
            raise RuntimeError("model exploded")
        return [Prediction(label=t, probabilities={t: 1.0}) for t in texts]


def run_concurrently(batcher, texts):
    results, errors = {}, {}

    def call(t):
        try:
            results[t] = batcher.predict(t).label
        except Exception as exc:  # noqa: BLE001
            errors[t] = exc

    threads = [threading.Thread(target=call, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    return results, errors


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer():
    model = Recorder(delay=0.05)
    batcher = MicroBatcher(model, window_ms=20, max_batch=8)
    texts = [f"m{i}" for i in range(16)]
    results, errors = run_concurrently(batcher, texts)
    assert not errors and results == {t: t for t in texts}
    assert sorted(t for call in model.calls for t in call) == sorted(texts)    # each exactly once
    assert len(model.calls) < len(texts) and max(map(len, model.calls)) <= 8
    batcher.close()


def test_a_lone_request_is_not_held_for_the_window():
    batcher = MicroBatcher(Recorder(), window_ms=2000, max_batch=8)
    started = time.perf_counter()
    assert batcher.predict("alone").label == "alone"
    assert time.perf_counter() - started < 1.0
    batcher.close()


def test_a_failing_batch_raises_for_its_callers_and_the_batcher_goes_on():
    model = Recorder(delay=0.05, fail_on="bad")
    batcher = MicroBatcher(model, window_ms=20, max_batch=8)
    results, errors = run_concurrently(batcher, ["bad", "x1", "x2"])
    assert "bad" in errors and isinstance(errors["bad"], RuntimeError)
    for t in ("x1", "x2"):          # in bad's batch they fail too, never a made-up answer
        assert results.get(t) == t or isinstance(errors.get(t), RuntimeError)
    assert batcher.predict("later").label == "later"
    batcher.close()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), window_ms=0)


def test_bot_with_micro_batching_replies_to_concurrent_sessions(tiny_model_dir, tmp_path):
    from conftest import make_bot

    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.db'}")
    bot.batcher = MicroBatcher(bot.classifier.predict, window_ms=10, max_batch=8)
    replies = {}

    def talk(i):
        replies[i] = bot.reply(f"s{i}", f"the delivery was late again, order {i}")

    threads = [threading.Thread(target=talk, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    direct = bot.classifier.predict([f"the delivery was late again, order {i}" for i in range(8)])
    assert [replies[i].prediction.label for i in range(8)] == [p.label for p in direct]
    bot.batcher.close()
