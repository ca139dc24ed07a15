"""ONNX Runtime backends: the exported graph equals PyTorch, int8 is guarded, builds are cached."""

import csv
import json

import numpy as np
import pytest

from bot.classifier import Classifier
from bot.onnx_export import OnnxBuildError, probe_messages, weights_digest
from bot.store import Message
from finetune.paths import cache_root

from conftest import SAMPLE, make_bot, sample_rows

TEXTS = [r["text"] for r in sample_rows()][:64] + ["", "a" * 3000, "<b>émoji 🎉 עברית</b>"]


def test_onnx_backend_equals_torch_and_is_built_once(tiny_model_dir):
    torch_clf = Classifier(tiny_model_dir, max_length=48, backend="torch")
    onnx_clf = Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)
    assert np.abs(onnx_clf.logits(TEXTS) - torch_clf.logits(TEXTS)).max() < 1e-4
    assert [p.label for p in onnx_clf.predict(TEXTS)] == [p.label for p in torch_clf.predict(TEXTS)]
    assert onnx_clf.labels == torch_clf.labels and onnx_clf.temperature == torch_clf.temperature

    folder = cache_root() / "onnx" / weights_digest(tiny_model_dir)
    report = json.loads((folder / "build.json").read_text())
    assert report["export_max_abs_logit_diff"] < 1e-3
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    built = []
    Classifier(tiny_model_dir, max_length=48, backend="onnx", log=built.append)
    assert built == [] and (folder / "model.onnx").stat().st_mtime_ns == stamp   # the cache, not a new export


def test_int8_backend_records_its_agreement_and_refuses_below_the_guard(tiny_model_dir):
    clf = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", min_agreement=0.0, log=lambda *_: None)
    report = json.loads((cache_root() / "onnx" / weights_digest(tiny_model_dir) / "build.json").read_text())["int8"]
    assert report["probe_messages"] == len(probe_messages()) >= 50
    assert 0.0 <= report["agreement"] <= 1.0
    assert len(clf.predict(TEXTS)) == len(TEXTS)
    with pytest.raises(OnnxBuildError, match=r"agrees with the float model on only .*use backend"):
        Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", min_agreement=1.01)


def test_bot_on_the_onnx_backend_replies_and_stores(tiny_model_dir, tmp_path):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.db'}")
    bot.classifier = Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)
    reply = bot.reply("s1", "the delivery was late again")
    assert reply.text and reply.prediction.label in bot.classifier.labels
    assert bot.store.count(Message) == 1


def test_a_changed_model_is_exported_again(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    Classifier(copy, max_length=48, backend="onnx", log=lambda *_: None)
    with open(copy / "model.safetensors", "r+b") as fh:   # same size, one bit of the last weight flipped
        fh.seek(-8, 2)
        byte = fh.read(1)
        fh.seek(-8, 2)
        fh.write(bytes([byte[0] ^ 1]))
    built = []
    changed = Classifier(copy, max_length=48, backend="onnx", log=built.append)
    assert any("exporting" in line for line in built)
    assert np.abs(changed.logits(TEXTS) - Classifier(copy, max_length=48, backend="torch").logits(TEXTS)).max() < 1e-4


@pytest.mark.slow
def test_int8_default_model_keeps_accuracy_on_the_sample(tmp_path):
    """Accuracy guard on a small labelled sample: >= 99% agreement with torch, <= 0.5 point accuracy drop."""
    from bot.model_source import resolve_model_dir

    model_dir = resolve_model_dir("default", log=lambda *_: None)
    with open(SAMPLE, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    texts, truth = [r["text"] for r in rows], [r["label"] for r in rows]
    ref = Classifier(model_dir, max_length=64, backend="torch")
    fast = Classifier(model_dir, max_length=64, backend="onnx-int8", log=lambda *_: None)
    a, b = ref.logits(texts).argmax(1), fast.logits(texts).argmax(1)
    y = np.array([ref.labels.index(t) for t in truth])
    assert (a == b).mean() >= 0.99
    assert 100 * ((a == y).mean() - (b == y).mean()) <= 0.5
