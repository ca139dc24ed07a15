import json
from collections import Counter

import pytest

from finetune.config import DataConfig
from finetune.data import DataError, load_labelled, prepare, read_table, split, tokenize

from conftest import SAMPLE, sample_rows, write_csv


def test_reads_sample_csv_and_orders_sentiment_labels():
    ds, labels, stats = load_labelled(DataConfig(path=str(SAMPLE)))
    assert labels == ["negative", "neutral", "positive"]
    assert stats["class_counts"] == {"negative": 100, "neutral": 100, "positive": 100}
    assert ds.features["label"].names == labels


def test_jsonl_and_parquet_give_the_same_rows(tmp_path):
    rows = sample_rows()[:40]
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps({"review": r["text"], "sentiment": r["label"]}) for r in rows) + "\n")
    from datasets import Dataset
    pq = tmp_path / "d.parquet"
    Dataset.from_list([{"review": r["text"], "sentiment": r["label"]} for r in rows]).to_parquet(str(pq))
    a, la, _ = load_labelled(DataConfig(path=str(jl)))
    b, lb, _ = load_labelled(DataConfig(path=str(pq)))
    assert a["text"] == b["text"] and a["label"] == b["label"] and la == lb


def test_label_map_and_aliases(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"text": "great", "label": "1"}, {"text": "awful", "label": "-1"},
                                          {"text": "meh", "label": "NEU"}, {"text": "good", "label": "pos"}])
    ds, labels, _ = load_labelled(DataConfig(path=str(path), label_map={"1": "positive", "-1": "negative"}))
    assert labels == ["negative", "neutral", "positive"]
    assert [labels[i] for i in ds["label"]] == ["positive", "negative", "neutral", "positive"]


def test_any_label_set_is_kept_sorted(tmp_path):
    rows = [{"text": f"t{i}", "label": lab} for i, lab in enumerate(["joy", "anger", "fear", "joy"])]
    _, labels, _ = load_labelled(DataConfig(path=str(write_csv(tmp_path / "e.csv", rows))))
    assert labels == ["anger", "fear", "joy"]


def test_unknown_label_names_file_and_row(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"text": "a", "label": "positive"}, {"text": "b", "label": "angry"}])
    with pytest.raises(DataError, match=r"d\.csv: row 2 has label 'angry'"):
        load_labelled(DataConfig(path=str(path), labels=["negative", "positive"]))


def test_empty_label_names_row(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"text": "a", "label": "positive"}, {"text": "b", "label": ""}])
    with pytest.raises(DataError, match="row 2 has an empty label"):
        load_labelled(DataConfig(path=str(path)))


def test_missing_column_lists_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"body": "a", "label": "positive"}])
    with pytest.raises(DataError, match="columns are body, label"):
        load_labelled(DataConfig(path=str(path)))
    with pytest.raises(DataError, match="no text column 'msg'"):
        load_labelled(DataConfig(path=str(path), text_column="msg"))


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        read_table(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="header only"):
        read_table(str(tmp_path / "header.csv"))


def test_wrong_encoding_names_line_and_suggests_fix(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nok,positive\ncaf\u00e9 was bad,negative\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: line 3 .* not valid utf-8.*--encoding"):
        read_table(str(path))
    ds = read_table(str(path), encoding="latin-1")
    assert ds["text"][1] == "caf\u00e9 was bad"


def test_bad_jsonl_row(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "positive"}\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match="row 2 is not valid JSON"):
        read_table(str(path))


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(str(tmp_path / "nope.csv"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unknown file type"):
        read_table(str(tmp_path / "x.txt"))


def test_drops_empty_and_duplicate_texts(tmp_path):
    rows = [{"text": "Late again", "label": "negative"}, {"text": "  late   AGAIN ", "label": "negative"},
            {"text": "   ", "label": "neutral"}, {"text": "fine", "label": "neutral"}]
    ds, _, stats = load_labelled(DataConfig(path=str(write_csv(tmp_path / "d.csv", rows))))
    assert ds["text"] == ["Late again", "fine"]
    assert stats["dropped_empty"] == 1 and stats["dropped_duplicates"] == 1


def test_balance_downsamples_to_smallest_class(tmp_path):
    rows = [{"text": f"bad {i}", "label": "negative"} for i in range(30)] + \
           [{"text": f"good {i}", "label": "positive"} for i in range(10)]
    ds, labels, stats = load_labelled(DataConfig(path=str(write_csv(tmp_path / "d.csv", rows)), balance=True))
    assert Counter(ds["label"]) == {0: 10, 1: 10} and stats["balanced_per_class"] == 10


def test_split_is_stratified_disjoint_and_seeded():
    cfg = DataConfig(path=str(SAMPLE), val_fraction=0.2, test_fraction=0.2, seed=5)
    a, b = prepare(cfg), prepare(cfg)
    assert a.splits["test"]["text"] == b.splits["test"]["text"]
    sizes = {k: len(v) for k, v in a.splits.items()}
    assert sizes == {"train": 180, "validation": 60, "test": 60}
    for part in a.splits.values():
        counts = Counter(part["label"])
        assert max(counts.values()) - min(counts.values()) <= 1   # 100 per class -> stratified thirds
    texts = [set(p["text"]) for p in a.splits.values()]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    c = prepare(DataConfig(path=str(SAMPLE), val_fraction=0.2, test_fraction=0.2, seed=6))
    assert c.splits["test"]["text"] != a.splits["test"]["text"]
    assert a.fingerprint == b.fingerprint


def test_split_rejects_bad_fractions():
    ds, _, _ = load_labelled(DataConfig(path=str(SAMPLE)))
    with pytest.raises(DataError, match="fraction"):
        split(ds, 0.6, 0.5, 0)


def test_tokenize_truncates_and_keeps_labels(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    prepared = prepare(DataConfig(path=str(SAMPLE)))
    out = tokenize(prepared.splits, tok, max_length=12)
    train = out["train"]
    assert set(train.column_names) == {"input_ids", "attention_mask", "label"}
    assert max(len(x) for x in train["input_ids"]) == 12
    assert train["label"] == prepared.splits["train"]["label"]


def test_jsonl_with_unicode_line_separators_roundtrips(tmp_path):
    from finetune.data import jsonl_line

    rows = [{"text": "line\u2028sep and para\u2029sep", "label": "neutral"}, {"text": "ok\nnewline", "label": "positive"}]
    path = tmp_path / "u.jsonl"
    path.write_text("".join(jsonl_line(r) for r in rows), encoding="utf-8")
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert read_table(str(path))["text"] == [r["text"] for r in rows]


def test_hostile_texts_load_unchanged(tmp_path):
    texts = ["{{ 7*7 }}", "<script>alert(1)</script>", "\U0001F621", "\u0627\u0644\u062a\u0648\u0635\u064a\u0644",
             "ctrl \x01\x1b[31m", "x" * 1_000_000]
    rows = [{"text": t, "label": lab} for t, lab in zip(texts, ["negative", "positive"] * 3)]
    ds, _, _ = load_labelled(DataConfig(path=str(write_csv(tmp_path / "h.csv", rows))))
    assert ds["text"] == [t.strip() for t in texts]


def test_extra_training_files_join_train_only_and_never_leak_into_held_out_splits(tmp_path):
    base_cfg = DataConfig(path=str(SAMPLE), seed=5)
    plain = prepare(base_cfg)
    held_out = list(plain.splits["validation"]["text"][:3]) + list(plain.splits["test"]["text"][:2])
    new = [{"text": f"brand new complaint number {i}", "label": "negative"} for i in range(4)]
    extra = write_csv(tmp_path / "extra.csv", [{"text": t.upper(), "label": "positive"} for t in held_out] + new
                      + [{"text": "only polarity here", "label": "pos"}])
    with_extra = prepare(DataConfig(path=str(SAMPLE), seed=5, extra_train=[str(extra)]))

    for name in ("validation", "test"):  # held-out splits are exactly those of the plain run
        assert with_extra.splits[name]["text"] == plain.splits[name]["text"]
    train = Counter(with_extra.splits["train"]["text"])
    assert sum(train.values()) == len(plain.splits["train"]) + 5
    assert all(train[row["text"]] == 1 for row in new) and train["only polarity here"] == 1
    assert not any(t.upper() in train for t in held_out)          # overlap (case/space-insensitive) dropped
    report = with_extra.stats["extra_train"][0]
    assert (report["added"], report["dropped_overlap"], report["rows_read"]) == (5, 5, 10)
    assert report["class_counts"] == {"negative": 4, "positive": 1}
    assert with_extra.fingerprint != plain.fingerprint


def test_extra_training_file_with_a_label_outside_the_set_is_a_clear_error(tmp_path):
    extra = write_csv(tmp_path / "extra.csv", [{"text": "meh", "label": "angry"}])
    with pytest.raises(DataError, match=r"extra\.csv: row 1 has label 'angry'"):
        prepare(DataConfig(path=str(SAMPLE), extra_train=[str(extra)]))
