"""feedbackbot data teacher-subset: a teacher's rows come from the student recipe's training split only."""

from __future__ import annotations

import csv
import json

import pytest

from finetune.config import DataConfig, FinetuneConfig
from finetune.data import DataError, prepare
from finetune.training_subset import training_rows, write_subset


def _mix(path, n=120):
    rows = []
    for i in range(n):
        language = ("en", "de", "en")[i % 3]
        dataset = "imdb" if i % 5 == 0 else "tweets_all"
        rows.append({"text": f"message number {i} in {language}", "label": ("negative", "neutral", "positive")[i % 3],
                     "language": language, "domain": "d", "dataset": dataset})
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _config(path):
    return FinetuneConfig(data=DataConfig(path=str(path), labels=["negative", "neutral", "positive"],
                                          val_fraction=0.2, test_fraction=0.2, seed=7))


def test_rows_are_the_training_split_filtered_by_language_and_set(tmp_path):
    rows = _mix(tmp_path / "mix.csv")
    cfg = _config(tmp_path / "mix.csv")
    kept = training_rows(cfg, ["en"], ["imdb"])
    splits = prepare(cfg.data).splits
    held = set(splits["validation"]["text"]) | set(splits["test"]["text"])
    train = set(splits["train"]["text"])
    texts = [r["text"] for r in kept]
    assert texts and not held & set(texts)               # nothing the student is chosen or measured on
    assert set(texts) <= train
    assert all(r["language"] == "en" and r["dataset"] != "imdb" for r in kept)
    expected = {r["text"] for r in rows if r["language"] == "en" and r["dataset"] != "imdb"} & train
    assert set(texts) == expected                         # and every such training row is there
    assert len(training_rows(cfg)) == len(train)          # no filter: the whole training split
    every = training_rows(cfg, ["en"], ["imdb"], all_splits=True)   # the texts a teacher labels afterwards
    assert [r["text"] for r in every] == [r["text"] for r in rows if r["language"] == "en" and r["dataset"] != "imdb"]


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{('negative', 'positive')[i % 2]}\n" for i in range(40)))
    with pytest.raises(DataError, match="language"):
        training_rows(_config(path), ["en"])
    with pytest.raises(DataError, match="no rows left"):
        _mix(tmp_path / "mix.csv")
        training_rows(_config(tmp_path / "mix.csv"), ["xx"])


def test_write_subset_and_cli(tmp_path, capsys):
    from bot.cli import main

    _mix(tmp_path / "mix.csv")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'[finetune.data]\npath = "{tmp_path / "mix.csv"}"\nlabels = ["negative", "neutral", "positive"]\n'
                      "val_fraction = 0.2\ntest_fraction = 0.2\nseed = 7\n")
    out = tmp_path / "teacher" / "en.csv"
    assert main(["data", "teacher-subset", "--config", str(recipe), "--language", "en",
                 "--exclude-dataset", "imdb", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    with out.open(encoding="utf-8", newline="") as fh:
        written = list(csv.DictReader(fh))
    cfg = _config(tmp_path / "mix.csv")
    assert [r["text"] for r in written] == [r["text"] for r in training_rows(cfg, ["en"], ["imdb"])]
    assert summary["rows"] == len(written) and set(written[0]) == {"text", "label", "language", "domain", "dataset"}
    assert sum(summary["by_set_and_label"].values()) == len(written)
