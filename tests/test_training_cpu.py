"""Training that fits 2 cores: length-bucketed batches, long texts in chunks, mid-epoch checkpoints, the mix."""

from __future__ import annotations

import csv
import json
import random

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config, write_csv
from finetune.batching import LengthBucketBatchSampler, padding_share


def test_bucketed_batches_cover_every_row_once_and_pad_far_less_than_random_batches():
    rng = random.Random(0)
    lengths = [rng.choice([rng.randint(8, 40), rng.randint(100, 128)]) for _ in range(3000)]
    sampler = LengthBucketBatchSampler(lengths, batch_size=32, seed=7)
    sampler.set_epoch(1)
    first = sampler.batches()
    assert sorted(i for b in first for i in b) == list(range(3000))
    assert len(first) == len(sampler)
    assert all(1 <= len(b) <= 32 for b in first)
    assert sampler.batches() == first                       # deterministic for (seed, epoch): resumable
    sampler.set_epoch(2)
    assert sampler.batches() != first                       # reshuffled every epoch
    order = list(range(3000))
    rng.shuffle(order)
    random_batches = [order[i:i + 32] for i in range(0, 3000, 32)]
    assert padding_share(lengths, first) < 0.1 < 0.3 < padding_share(lengths, random_batches)


def test_long_texts_become_chunks_with_their_label_and_short_ones_stay_whole(tiny_base):
    from datasets import Dataset

    from finetune.data import tokenize
    from finetune.model_dir import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_base))
    long_text = " ".join(["the delivery was late again and nobody called"] * 30)
    ds = Dataset.from_dict({"text": ["love the new app", long_text], "label": [2, 0]})
    chunks = tokenize(ds, tokenizer, 32, chunk_long=True, max_chunks=3, stride=4)
    assert chunks["text_index"] == [0, 1, 1, 1]             # capped at max_chunks
    assert chunks["label"] == [2, 0, 0, 0]
    assert all(len(ids) <= 32 for ids in chunks["input_ids"])
    whole = tokenize(ds, tokenizer, 32)
    assert len(whole) == 2 and chunks["input_ids"][0] == whole["input_ids"][0]
    assert chunks["input_ids"][1] == whole["input_ids"][1]  # the first chunk is what truncation kept


class Crash(Exception):
    pass


def test_a_run_killed_mid_epoch_resumes_at_the_batch_it_reached_and_ends_where_a_straight_run_ends(tiny_base, tmp_path):
    from finetune.pipeline import run

    run(tiny_config(tiny_base, tmp_path / "straight", epochs=1), log=lambda *_: None)

    def crash_mid_epoch(msg):
        if msg.startswith("checkpoint saved at epoch 1, step 3/"):
            raise Crash(msg)

    cfg = tiny_config(tiny_base, tmp_path / "resumed", epochs=1, checkpoint_minutes=1e-9)  # after every batch
    with pytest.raises(Crash):
        run(cfg, log=crash_mid_epoch)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "trainer_state.json").read_text())
    assert (state["epoch"], state["step"]) == (0, 3)
    cfg.resume = True
    messages = []
    run(cfg, log=messages.append)
    assert any(m.startswith("resumed from") and "step 3 of the next" in m for m in messages)
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())
    for key in ("train_loss", "val_loss", "val_macro_f1"):
        assert resumed[0][key] == pytest.approx(straight[0][key], abs=1e-6), key
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def _prepared(tmp_path, name, rows, language="en"):
    return write_csv(tmp_path / f"{name}.csv", [{"text": t, "label": l, "language": language, "domain": "d",
                                                  "dataset": name} for t, l in rows])


def test_the_mix_never_draws_a_benchmark_text_and_refuses_eval_only_sets(tmp_path):
    from finetune.data import DataError, prepare
    from finetune.config import DataConfig
    from finetune.mix import MixConfig, build_mix

    labels = ["negative", "neutral", "positive"]
    airline = [(f"airline message number {i} about the flight", labels[i % 3]) for i in range(300)]
    # tweets_all holds the airline tweets too (as the real corpus does), plus its own
    topics = [(f"topic tweet {i} about the weather", labels[i % 3]) for i in range(300)]
    _prepared(tmp_path, "airline_tweets", airline)
    _prepared(tmp_path, "tweets_all", airline + topics)
    _prepared(tmp_path, "olist_pt", [(f"produto chegou {i}", labels[i % 3]) for i in range(100)], "pt")
    _prepared(tmp_path, "polarity_de", [(f"gut {i}", labels[2 * (i % 2)]) for i in range(50)], "de")
    out = tmp_path / "mix.csv"
    summary = build_mix(MixConfig(out=str(out), rows={"tweets_all": 10_000, "olist_pt": 40}), tmp_path,
                        log=lambda *_: None)
    with out.open() as fh:
        mixed = list(csv.DictReader(fh))
    texts = {r["text"] for r in mixed}
    protected = set()
    for name in ("airline_tweets", "tweets_all"):
        splits = prepare(DataConfig(path=str(tmp_path / f"{name}.csv"), seed=42, val_fraction=0.1,
                                    test_fraction=0.1)).splits
        protected |= set(splits["validation"]["text"]) | set(splits["test"]["text"])
    assert protected and not texts & protected
    assert summary["sources"]["olist_pt"]["taken"] == 40
    assert 0 < summary["sources"]["tweets_all"]["taken"] < 600 - len(protected) + 1
    assert {r["dataset"] for r in mixed} == {"tweets_all", "olist_pt"}
    again = tmp_path / "again.csv"
    build_mix(MixConfig(out=str(again), rows={"tweets_all": 10_000, "olist_pt": 40}), tmp_path, log=lambda *_: None)
    assert again.read_text() == out.read_text()             # deterministic for a seed
    with pytest.raises(DataError, match="eval-only"):
        build_mix(MixConfig(out=str(out), rows={"polarity_de": 10}), tmp_path, log=lambda *_: None)
    with pytest.raises(DataError, match="data prepare"):
        build_mix(MixConfig(out=str(out), rows={"imdb": 10}), tmp_path, log=lambda *_: None)


def test_the_mix_adds_the_asked_number_of_synthetic_behaviour_examples_marked_as_such(tmp_path):
    from finetune.augment import generate
    from finetune.mix import MixConfig, build_mix

    labels = ["negative", "neutral", "positive"]
    _prepared(tmp_path, "tweets_all", [(f"topic tweet {i} about the weather", labels[i % 3]) for i in range(300)])
    out = tmp_path / "mix.csv"
    summary = build_mix(MixConfig(out=str(out), rows={"tweets_all": 100}, augment=60), tmp_path, log=lambda *_: None)
    with out.open() as fh:
        mixed = list(csv.DictReader(fh))
    synthetic = [r for r in mixed if r["dataset"] == "augment"]
    assert len(synthetic) == summary["sources"]["augment"]["taken"] == 60
    assert {r["domain"] for r in synthetic} == {"synthetic"} and {r["language"] for r in synthetic} == {"en"}
    assert {(r["text"], r["label"]) for r in synthetic} == {(e.text, e.label) for e in generate(60, seed=42)}
    assert len(mixed) == 160
