"""ONNX Runtime backends: the fused graph equals PyTorch, int8 re-checks near ties and is guarded, builds are
cached, and a bot on ONNX serves without importing PyTorch."""

import csv
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import onnx
import pytest

from bot.classifier import Classifier
from bot.onnx_export import EMB8, FP32, INT8, TABLE, OnnxBuildError, recheck_near_ties, weights_digest
from bot.store import Message
from bot.token_ids import TokenIds
from finetune.paths import cache_root

from conftest import SAMPLE, make_bot, sample_rows

TEXTS = [r["text"] for r in sample_rows()][:64] + ["", "a" * 3000, "<b>émoji 🎉 עברית</b>"]


def ops(path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def test_onnx_backend_is_a_fused_graph_equal_to_torch_and_is_built_once(tiny_model_dir):
    torch_clf = Classifier(tiny_model_dir, max_length=48, backend="torch")
    onnx_clf = Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)
    assert np.abs(onnx_clf.logits(TEXTS) - torch_clf.logits(TEXTS)).max() < 1e-4
    assert [p.label for p in onnx_clf.predict(TEXTS)] == [p.label for p in torch_clf.predict(TEXTS)]
    assert onnx_clf.labels == torch_clf.labels and onnx_clf.temperature == torch_clf.temperature

    folder = cache_root() / "onnx" / weights_digest(tiny_model_dir)
    report = json.loads((folder / "build.json").read_text())
    assert report[FP32]["max_abs_logit_diff_to_torch"] < 1e-3
    layers = json.loads((tiny_model_dir / "config.json").read_text())["n_layers"]
    fused = ops(folder / FP32)
    assert fused["Attention"] == layers and fused["SkipLayerNormalization"] == 2 * layers   # one op per block
    stamp = (folder / FP32).stat().st_mtime_ns
    built = []
    Classifier(tiny_model_dir, max_length=48, backend="onnx", log=built.append)
    assert built == [] and (folder / FP32).stat().st_mtime_ns == stamp   # the cache, not a new export


def test_int8_graph_quantises_attention_and_matmuls(tiny_model_dir):
    Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", min_agreement=0.0, log=lambda *_: None)
    int8 = ops(cache_root() / "onnx" / weights_digest(tiny_model_dir) / INT8)
    layers = json.loads((tiny_model_dir / "config.json").read_text())["n_layers"]
    assert int8["QAttention"] == layers and int8["MatMulInteger"] == 3 * layers and int8["Attention"] == 0


def _recording_float_graph(seen: list, value: float = 0.0):
    """A stand-in float graph that records which rows it was asked to re-run and answers ``value`` for each."""
    def run_float(batch):
        seen.append(batch["input_ids"][:, 0].tolist())
        return np.full((len(batch["input_ids"]), 3), value, dtype=np.float32)
    return run_float


def test_recheck_near_ties_reruns_exactly_the_close_rows():
    logits = np.array([[2.0, 1.9, 0.0], [3.0, 0.0, 0.0], [0.0, 0.2, 0.8], [1.0, 1.0, 1.0]], dtype=np.float32)
    inputs = {"input_ids": np.arange(4)[:, None]}
    seen = []
    run_float = _recording_float_graph(seen, 7.0)
    assert recheck_near_ties(logits, inputs, run_float, margin=0.5) == 2
    assert seen == [[0, 3]]                       # top-two margins 0.1 and 0.0; not 3.0 or 0.6
    assert (logits[[0, 3]] == 7.0).all() and logits[1, 0] == 3.0 and logits[2, 2] == np.float32(0.8)


def test_near_ties_are_found_where_the_served_decision_is_with_class_biases(tiny_model_dir):
    """Served biases move the decision: argmax(logits / T + bias) = argmax(logits + T * bias), so the re-check looks
    for ties there, and the classifier hands the int8 backend that offset."""
    logits = np.array([[2.0, 0.0, 0.0], [2.0, 0.0, 1.9]], dtype=np.float32)
    inputs = {"input_ids": np.arange(2)[:, None]}
    seen = []
    run_float = _recording_float_graph(seen)

    # with +2 on the first class row 0's decision is clear and row 1's (4.0 vs 1.9) too; with -2: 0.0 vs 0.0 and 1.9
    assert recheck_near_ties(logits.copy(), inputs, run_float, 0.5, offset=np.array([2.0, 0.0, 0.0])) == 0
    assert recheck_near_ties(logits.copy(), inputs, run_float, 0.5, offset=np.array([-2.0, 0.0, 0.0])) == 1
    assert seen == [[0]]
    own = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", log=lambda *_: None)
    biased = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", log=lambda *_: None,
                        temperatures={own.version: 2.0}, biases={own.version: {"negative": 0.5}})
    assert own.backend.decision_offset is None
    assert np.allclose(biased.backend.decision_offset, 2.0 * np.array([0.5 if k == "negative" else 0.0
                                                                       for k in own.labels]))


def test_the_near_tie_recheck_follows_served_class_scales(tiny_model_dir):
    """Served scales reweigh the logits before the decision: argmax(scale * logits / T + bias) = argmax(scale *
    logits + T * bias), so a tie in the raw logits is no tie once scaled, and a scaled tie is re-checked."""
    logits = np.array([[2.0, 0.0, 1.8], [2.0, 0.0, 1.0]], dtype=np.float32)
    inputs = {"input_ids": np.arange(2)[:, None]}
    seen = []
    run_float = _recording_float_graph(seen)

    assert recheck_near_ties(logits.copy(), inputs, run_float, 0.5) == 1 and seen == [[0]]
    # scale 0.5 on the first class: row 0 is 1.0 vs 1.8 (clear), row 1 is 1.0 vs 1.0 (a tie)
    assert recheck_near_ties(logits.copy(), inputs, run_float, 0.5, scale=np.array([0.5, 1.0, 1.0])) == 1
    assert seen == [[0], [1]]
    assert recheck_near_ties(logits.copy(), inputs, run_float, 0.5, offset=np.array([0.0, 0.0, -0.8]),
                             scale=np.array([0.5, 1.0, 1.0])) == 1 and seen[-1] == [0]
    own = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", log=lambda *_: None)
    # (min_agreement 0: a random tiny model's logits are all near ties; what is checked here is the wiring)
    scaled = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", log=lambda *_: None, min_agreement=0.0,
                        temperatures={own.version: 2.0}, biases={own.version: {"negative": 0.5}},
                        scales={own.version: {"neutral": 0.25}})
    assert own.backend.decision_scale is None
    assert np.allclose(scaled.backend.decision_scale, [0.25 if k == "neutral" else 1.0 for k in own.labels])
    assert np.allclose(scaled.backend.decision_offset, [1.0 if k == "negative" else 0.0 for k in own.labels])


def test_int8_with_every_row_rechecked_equals_the_float_graph(tiny_model_dir):
    """The re-check really runs the float graph: with an infinite margin every row is re-run, so int8 == float."""
    float_clf = Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)
    everything = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", recheck_margin=float("inf"),
                            min_agreement=0.0, log=lambda *_: None)
    assert np.array_equal(everything.logits(TEXTS), float_clf.logits(TEXTS))
    assert everything.backend.rechecked == len(TEXTS) and everything.backend.agreement == 1.0

    raw = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", recheck_margin=0.0, min_agreement=0.0,
                     log=lambda *_: None)
    assert not np.array_equal(raw.logits(TEXTS), float_clf.logits(TEXTS))   # really int8 ...
    assert raw.backend.rechecked == 0 and raw.backend._run_float is None     # ... with no float graph kept


def test_int8_refuses_to_start_below_the_agreement_guard(tiny_model_dir):
    with pytest.raises(OnnxBuildError, match=r"agrees with the float model on only .*recheck_margin"):
        Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", min_agreement=1.01)


def test_token_ids_equal_the_transformers_tokenizer(tiny_model_dir):
    from finetune.model_dir import load_tokenizer

    texts = TEXTS + ["word " * 200]
    reference = load_tokenizer(str(tiny_model_dir))
    tokens = TokenIds(tiny_model_dir)
    assert tokens(texts, 48) == reference(texts, truncation=True, max_length=48)["input_ids"]
    assert len(tokens(texts, 48)[-1]) == 48 and tokens.pad_id == reference.pad_token_id
    positions = json.loads((tiny_model_dir / "config.json").read_text())["max_position_embeddings"]
    assert tokens.model_max_length == min(reference.model_max_length, positions)   # never past the position table


def test_a_bot_on_onnx_serves_without_importing_torch(tiny_model_dir, tmp_path):
    Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", min_agreement=0.0, log=lambda *_: None)  # cache
    script = (
        "import sys\n"
        "from bot.config import BotConfig\nfrom bot.core import Bot\n"
        "cfg = BotConfig(); cfg.model.path = sys.argv[1]; cfg.model.max_length = 48; cfg.db.url = sys.argv[2]\n"
        "cfg.model.min_agreement = 0.0\n"
        "bot = Bot.from_config(cfg, log_fn=lambda *_: None)\n"
        "print(bot.reply('s', 'the delivery was late again').template)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tiny_model_dir), f"sqlite:///{tmp_path / 'fb.db'}"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[-2] and out[-1] == "[]"


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
    assert fast.backend.rechecked / len(texts) < 0.15      # most messages stay on the int8 fast path


def test_a_large_vocabulary_keeps_one_int8_table_mapped_once_for_both_graphs(tiny_model_dir, tmp_path, monkeypatch):
    """Above LARGE_VOCAB rows both served graphs read their embedding table from one external file, and the int8
    backend maps it once for its int8 and float re-check sessions (the tiny model stands in for a 250k vocabulary)."""
    import bot.onnx_export as onnx_export

    monkeypatch.setenv("FEEDBACKBOT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(onnx_export, "LARGE_VOCAB", 10)
    monkeypatch.setattr(onnx_export, "EMB8_TOLERANCE", float("inf"))   # a random tiny model is not a trained one
    torch_clf = Classifier(tiny_model_dir, max_length=48, backend="torch")
    emb8 = Classifier(tiny_model_dir, max_length=48, backend="onnx", log=lambda *_: None)
    every = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", recheck_margin=float("inf"),
                       min_agreement=0.0, log=lambda *_: None)
    folder = tmp_path / "onnx" / weights_digest(tiny_model_dir)
    assert emb8.backend.path == folder / EMB8 and every.backend.path == folder / INT8
    report = json.loads((folder / "build.json").read_text())
    parts = report[TABLE]["tensors"]                # the 8-bit table, its block scales and zero points
    assert [p["initializer"].rsplit(".", 1)[1] for p in parts] == ["weight_quantized", "weight_scale",
                                                                   "weight_zero_point"]
    rows, width = parts[0]["shape"]
    assert parts[0]["dtype"] == "uint8" and parts[1]["shape"] == parts[2]["shape"] == [rows, width // 32]
    assert (folder / TABLE).stat().st_size == parts[2]["offset"] + rows * width // 32
    for name in (EMB8, INT8):                       # no copy of any part inside either graph
        graph = onnx.load(str(folder / name), load_external_data=False).graph
        for part in parts:
            table = [t for t in graph.initializer if t.name == part["initializer"]]
            assert len(table) == 1 and table[0].data_location == onnx.TensorProto.EXTERNAL and not table[0].raw_data
    assert [name for name, *_ in every.backend._table] == [p["initializer"] for p in parts]
    # the shared, memory-mapped table gives what ONNX Runtime computes reading the external file itself, and int8
    # with every row re-checked equals the float graph
    inputs = onnx_export.encode(emb8.token_ids, TEXTS, 48)
    own = onnx_export.session(folder / EMB8).run(["logits"], inputs)[0]
    assert np.allclose(emb8.backend(inputs), own, atol=1e-5)
    assert np.array_equal(every.logits(TEXTS), emb8.logits(TEXTS))
    raw = Classifier(tiny_model_dir, max_length=48, backend="onnx-int8", recheck_margin=0.0, min_agreement=0.0,
                     log=lambda *_: None)
    assert not np.array_equal(raw.logits(TEXTS), emb8.logits(TEXTS))
