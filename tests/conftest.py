"""Shared fixtures: a tiny random DistilBERT base and a model fine-tuned from it by the real pipeline."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from servers import free_port, postgres_available, temporary_postgres, wait_for_port  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "airline_tweets_sample.csv"
LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory):
    """Keep caches and the default SQLite file out of the user's home."""
    root = tmp_path_factory.mktemp("home")
    os.environ["FEEDBACKBOT_CACHE_DIR"] = str(root / "cache")
    os.environ["XDG_DATA_HOME"] = str(root / "data")
    os.environ["HF_DATASETS_CACHE"] = str(root / "hf-datasets")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    # Servers and CLI sessions started by tests run the tiny random models on the torch reference backend: a
    # random 2-layer model is not int8-robust (its probe agreement is ~0.78, so the guard refuses it, as it
    # should). The default onnx-int8 backend is exercised on the real default model (test_default_model,
    # test_onnx_backend), which constructs its config without this variable.
    os.environ["FEEDBACKBOT_MODEL_BACKEND"] = "torch"
    yield


def sample_rows() -> list[dict]:
    with open(SAMPLE, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict], fieldnames=None, encoding="utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def build_tiny_base(path: Path, dim: int = 32, layers: int = 2, heads: int = 2, seed: int = 0) -> Path:
    """A randomly initialised DistilBertModel with a WordPiece vocab from the sample data (seconds)."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizer

    words = set()
    for row in sample_rows():
        words.update(re.findall(r"\w+|[^\w\s]", row["text"].lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = DistilBertTokenizer(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=len(vocab), dim=dim, hidden_dim=dim * 2, n_layers=layers, n_heads=heads,
                              max_position_embeddings=128, pad_token_id=0,
                              initializer_range=0.5)  # wide init: random features differ enough to learn from
    DistilBertModel(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("tiny-base") / "base")


def tiny_config(base: Path, out: Path, data: Path = SAMPLE, epochs: int = 2, learning_rate: float = 2e-2, **train):
    from finetune.config import DataConfig, FinetuneConfig, LoraSettings, TrainSettings

    return FinetuneConfig(
        base=str(base), out=str(out),
        data=DataConfig(path=str(data), max_length=48, seed=1, val_fraction=0.2, test_fraction=0.2),
        lora=LoraSettings(rank=4, alpha=8, dropout=0.0),
        train=TrainSettings(epochs=epochs, batch_size=16, eval_batch_size=64, learning_rate=learning_rate,
                            early_stopping_patience=5, seed=3, **train),
    )


@pytest.fixture(scope="session")
def tiny_run(tiny_base, tmp_path_factory):
    """(output dir, meta) of a full `finetune` run on the tiny base: LoRA -> calibrate -> merge."""
    from finetune.pipeline import run

    out = tmp_path_factory.mktemp("tiny-run") / "run"
    meta = run(tiny_config(tiny_base, out), log=lambda *_: None)
    return out, meta


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_run) -> Path:
    return tiny_run[0] / "model"


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback: $FEEDBACKBOT_TEST_PG_URL, or a throwaway cluster started here.

    Skips only outside CI when no PostgreSQL binaries exist; in CI (CI=true) a missing server fails.
    """
    url = os.environ.get("FEEDBACKBOT_TEST_PG_URL")
    if url:
        yield url
        return
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs it")
        pytest.skip("PostgreSQL not installed (apt-get install postgresql)")
    with temporary_postgres() as url:
        yield url


def make_bot(model_dir, db_url: str, **policy):
    """A real Bot on a real model dir; policy overrides force bands where a test needs one."""
    from bot.classifier import Classifier
    from bot.config import BotConfig, PolicyConfig
    from bot.core import Bot
    from bot.render import Renderer
    from bot.store import Store

    cfg = BotConfig()
    cfg.policy = PolicyConfig(**policy)
    cfg.model.path = str(model_dir)
    cfg.db.url = db_url
    return Bot(Classifier(model_dir, max_length=48), Renderer(), Store(db_url), cfg)


ALWAYS_HIGH = {"thresholds": {"negative": 0.0, "neutral": 0.0, "positive": 0.0}, "ambiguity_margin": 0.0}
ALWAYS_LOW = {"thresholds": {"negative": 1.01, "neutral": 1.01, "positive": 1.01}, "ambiguity_margin": 0.0}


def text_predicted_as(classifier, label: str) -> str:
    """A sample tweet the model predicts as ``label`` that the kind detector takes for feedback."""
    from bot.kinds import KindDetector, packaged_examples

    kinds = KindDetector(packaged_examples())
    texts = [r["text"] for r in sample_rows()]
    for text, p in zip(texts, classifier.predict(texts)):
        if p.label == label and kinds.detect(text).kind == "feedback":
            return text
    raise AssertionError(f"no sample text is predicted {label}")


def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    """Poll until ``check()`` holds (work done by another thread or process), failing after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


class LiveServer:
    """uvicorn serving an ASGI app on a loopback port, in a thread."""

    def __init__(self, app):
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for_port(self.port)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)
