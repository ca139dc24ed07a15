import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from finetune.train import ResumeError

from conftest import SAMPLE, tiny_config

REPORT_FILES = ["metrics.json", "history.json", "history.png", "confusion_matrix.json", "confusion_matrix.png",
                "calibration.json", "reliability.png", "trainable_parameters.json"]


def test_run_writes_model_dir_adapter_and_report(tiny_run):
    out, meta = tiny_run
    model = out / "model"
    for name in ["config.json", "model.safetensors", "tokenizer.json", "feedbackbot.json", "README.md"]:
        assert (model / name).is_file(), name
    assert not list(model.glob("*.bin"))
    for name in ["adapter_config.json", "adapter_model.safetensors", "feedbackbot.json"]:
        assert (out / "adapter" / name).is_file(), name
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    assert (out / "history.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((model / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert meta["labels"] == ["negative", "neutral", "positive"]
    assert meta["merge"]["max_abs_logit_diff"] <= 1e-4
    assert meta["temperature"] > 0
    assert set(meta["thresholds"]["thresholds"]) == set(meta["labels"])
    assert meta["base"]["kind"] == "local"
    assert len(meta["data"]["fingerprint"]) == 64
    assert meta["data"]["config"]["seed"] == 1 and meta["data"]["config"]["test_fraction"] == 0.2
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    params = meta["training"]["parameters"]
    assert 0 < params["trainable"] < params["total"] and params["share"] < 0.5
    test = meta["metrics"]["test"]
    assert test["n"] == 60 and sum(map(sum, test["confusion_matrix"]["matrix"])) == 60
    assert "Base model (provenance)" in (model / "README.md").read_text()


def test_lora_targets_encoder_and_trains_head_in_full(tiny_run):
    out, _ = tiny_run
    cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert set(cfg["modules_to_save"]) >= {"pre_classifier", "classifier"}
    keys = load_file(str(out / "adapter" / "adapter_model.safetensors")).keys()
    assert any("q_lin.lora_A" in k for k in keys) and any("lin1.lora_B" in k for k in keys)
    assert not any("classifier.lora" in k for k in keys)


def test_merged_dir_loads_in_plain_pipeline_with_same_predictions(tiny_model_dir):
    from transformers import pipeline

    from bot.classifier import Classifier

    texts = ["the delivery was late again", "love the new app", "where is my bag", "thanks for nothing"]
    clf = Classifier(tiny_model_dir, max_length=48)
    ours = [p.label for p in clf.predict(texts)]
    pipe = pipeline("text-classification", model=str(tiny_model_dir), device=-1)
    theirs = [r["label"] for r in pipe(texts)]
    assert ours == theirs
    # pipeline scores are softmax(logits); ours are softmax(logits / T)
    raw = clf.logits(texts)
    expected = np.exp(raw - raw.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose([r["score"] for r in pipe(texts)], expected.max(1), atol=1e-5)


def test_merge_verification_rejects_a_changed_model(tiny_run):
    from peft import PeftModel

    from finetune.merge import MergeVerificationError, merge_and_verify
    from finetune.model_dir import load_for_classification, load_tokenizer
    from finetune.train import make_loader

    out, meta = tiny_run
    base = meta["base"]["source"]
    tok = load_tokenizer(base)
    model = PeftModel.from_pretrained(load_for_classification(base, meta["labels"]), str(out / "adapter")).eval()
    loader = make_loader([dict(tok("late again"), labels=0), dict(tok("great crew"), labels=2)], tok, 2)
    original_merge = model.merge_and_unload

    def corrupt_merge():
        merged = original_merge()
        with torch.no_grad():
            merged.classifier.bias += 0.01
        return merged

    model.merge_and_unload = corrupt_merge
    with pytest.raises(MergeVerificationError, match="differ"):
        merge_and_verify(model, loader, tolerance=1e-4)


class Crash(Exception):
    pass


def test_resume_after_a_crash_reaches_the_same_result_as_an_uninterrupted_run(tiny_base, tmp_path):
    from finetune.pipeline import run

    run(tiny_config(tiny_base, tmp_path / "straight", epochs=2), log=lambda *_: None)

    def crash_after_first_epoch(msg):
        if msg == "checkpoint saved after epoch 1":
            raise Crash(msg)

    cfg = tiny_config(tiny_base, tmp_path / "resumed", epochs=2)
    with pytest.raises(Crash):
        run(cfg, log=crash_after_first_epoch)
    assert not (tmp_path / "resumed" / "model").exists()
    cfg.resume = True
    messages = []
    run(cfg, log=messages.append)
    assert any(m.startswith("resumed from") and "after epoch 1" in m for m in messages)
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [h["epoch"] for h in resumed] == [1, 2]
    for s_rec, r_rec in zip(straight, resumed):
        for key in ("train_loss", "val_loss", "val_accuracy", "val_macro_f1"):
            assert r_rec[key] == pytest.approx(s_rec[key], abs=1e-6), key
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_resume_without_checkpoint_is_a_clear_error(tiny_base, tmp_path):
    from finetune.pipeline import run

    cfg = tiny_config(tiny_base, tmp_path / "none", epochs=1)
    cfg.resume = True
    with pytest.raises(ResumeError, match="no checkpoint"):
        run(cfg, log=lambda *_: None)


def test_cli_finetune_then_evaluate(tiny_base, tmp_path, capsys):
    from bot.cli import main

    out = tmp_path / "cli-run"
    code = main(["finetune", "--data", str(SAMPLE), "--base", str(tiny_base), "--out", str(out), "--epochs", "1",
                 "--rank", "2", "--max-length", "32", "--batch-size", "32", "--lr", "0.005"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= summary["accuracy"] <= 1 and summary["model"].endswith("model")
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["r"] == 2
    code = main(["evaluate", "--model", str(out / "model"), "--data", str(SAMPLE), "--report", str(tmp_path / "ev")])
    assert code == 0
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert ev["n"] == 300 and 0 <= ev["ece"] <= 1
    assert (tmp_path / "ev" / "confusion_matrix.png").is_file()


def test_cli_reports_bad_data_without_traceback(tiny_base, tmp_path, capsys):
    from bot.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,positive\nhmm,sideways\n")
    code = main(["finetune", "--data", str(bad), "--base", str(tiny_base), "--out", str(tmp_path / "o"),
                 "--labels", "negative,positive"])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.csv: row 2 has label 'sideways'" in err and "Traceback" not in err


def test_unknown_base_is_a_clear_error(tmp_path):
    from finetune.base import BaseModelError, resolve_base

    with pytest.raises(BaseModelError, match="no config.json"):
        resolve_base(str(tmp_path))
    with pytest.raises(BaseModelError, match="neither"):
        resolve_base("./does/not/exist")
    assert resolve_base("distilbert-base-uncased").provenance == {"kind": "hub", "id": "distilbert-base-uncased"}


def test_tampered_or_incomplete_model_dirs_fail_clearly(tiny_model_dir, tmp_path):
    import shutil

    from finetune.model_dir import ModelDirError, load_model_dir

    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_model_dir, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelDirError, match="cannot load model from"):
        load_model_dir(truncated)

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ModelDirError, match="safetensors only"):
        load_model_dir(pickled)

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    (corrupt / "feedbackbot.json").write_text('{"labels": [')
    with pytest.raises(ModelDirError, match="feedbackbot.json is corrupt"):
        load_model_dir(corrupt)
    with pytest.raises(ModelDirError, match="does not exist"):
        load_model_dir(tmp_path / "missing")


def test_trained_layer_norms_are_saved_with_the_adapter_and_reach_the_merged_model(tiny_base, tmp_path):
    """train_layer_norms: every LayerNorm is trained in full, saved with the adapter (modules_to_save) and merged;
    without it the merged model keeps the base's LayerNorms."""
    from finetune.pipeline import run

    def norms(directory):
        state = load_file(str(directory / "model.safetensors"))
        return {k.removeprefix("distilbert."): v for k, v in state.items()
                if "layer_norm" in k.lower() or "layernorm" in k.lower()}

    base_norms = norms(tiny_base)
    assert base_norms
    results = {}
    for train_norms in (False, True):
        cfg = tiny_config(tiny_base, tmp_path / str(train_norms), epochs=1)
        cfg.lora.train_layer_norms = train_norms
        run(cfg, log=lambda *_: None)
        saved = json.loads((tmp_path / str(train_norms) / "adapter" / "adapter_config.json").read_text())
        merged = norms(tmp_path / str(train_norms) / "model")
        changed = [k for k in base_norms if not torch.equal(base_norms[k], merged[k])]
        results[train_norms] = (set(saved["modules_to_save"]), len(changed))
    assert results[False][1] == 0
    assert {"distilbert.embeddings.LayerNorm", "distilbert.transformer.layer.0.sa_layer_norm",
            "distilbert.transformer.layer.0.output_layer_norm"} <= results[True][0]
    assert results[True][1] == len(base_norms)


def test_frozen_layers_keep_the_lower_layers_exactly_as_pretrained(tiny_base, tmp_path):
    """frozen_layers = 1 on the two-layer tiny base: LoRA sits on layer 1 only, so the merged model's layer 0 (and
    embeddings) are the base's bit for bit while layer 1's linear weights moved; the adapter config and the model
    card say which layers learnt."""
    from finetune.pipeline import run

    def weights(directory):
        state = load_file(str(directory / "model.safetensors"))
        return {k.removeprefix("distilbert."): v for k, v in state.items()}

    base = weights(tiny_base)
    cfg = tiny_config(tiny_base, tmp_path / "run", epochs=1)
    cfg.lora.frozen_layers = 1
    run(cfg, log=lambda *_: None)
    saved = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert saved["layers_to_transform"] == [1]
    assert set(saved["target_modules"]) == {"q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"}
    merged = weights(tmp_path / "run" / "model")
    lower = [k for k in base if k.startswith(("transformer.layer.0.", "embeddings."))]
    upper = [k for k in base if k.startswith("transformer.layer.1.") and k.endswith(LINEAR_WEIGHTS)]
    assert lower and len(upper) == 6
    assert all(torch.equal(base[k], merged[k]) for k in lower)
    assert all(not torch.equal(base[k], merged[k]) for k in upper)
    assert "bottom 1 encoder layer kept as pretrained" in (tmp_path / "run" / "model" / "README.md").read_text()


LINEAR_WEIGHTS = tuple(f"{n}.weight" for n in ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"))


def test_frozen_layers_with_trained_layer_norms_train_only_the_learning_layers_norms(tiny_base):
    """train_layer_norms together with frozen_layers: the embeddings' and the frozen layer's LayerNorms stay frozen,
    so nothing below the learning layers asks for a gradient and the backward pass stops there."""
    from transformers import AutoModelForSequenceClassification

    from finetune.config import LoraSettings
    from finetune.train import build_lora_model

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_base), num_labels=3)
    peft_model = build_lora_model(model, LoraSettings(rank=4, alpha=8, frozen_layers=1, train_layer_norms=True))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any(".layer.1." in n and "layer_norm" in n for n in trainable)
    assert any(".layer.1." in n and "lora_A" in n for n in trainable)
    below = [n for n in trainable if ".layer.0." in n or ".embeddings." in n]
    assert below == []


@pytest.mark.parametrize("frozen", [2, 5, -1])
def test_frozen_layers_must_leave_a_layer_to_learn(tiny_base, frozen):
    from transformers import AutoModelForSequenceClassification

    from finetune.config import LoraSettings
    from finetune.train import build_lora_model

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_base), num_labels=3)
    with pytest.raises(ValueError, match=f"frozen_layers = {frozen}: this base has 2 layers"):
        build_lora_model(model, LoraSettings(rank=4, alpha=8, frozen_layers=frozen))


def test_keep_layers_drops_the_upper_layers_and_every_loader_reads_the_shallower_model(tiny_base, tmp_path):
    """keep_layers = 1 on the two-layer tiny base: the merged model has one layer (the config says so and no
    weight of layer 1 is left), plain transformers loads it, the shipped-adapter path merges onto the same depth
    with the same logits, the model card says it, and a retrain keeps the depth."""
    from transformers import AutoModelForSequenceClassification

    from bot.classifier import Classifier
    from bot.model_source import merge_adapter
    from bot.retrain import recipe
    from finetune.pipeline import run

    cfg = tiny_config(tiny_base, tmp_path / "run", epochs=1)
    cfg.keep_layers = 1
    meta = run(cfg, log=lambda *_: None)
    model_dir = tmp_path / "run" / "model"
    assert meta["training"]["keep_layers"] == 1
    assert json.loads((model_dir / "config.json").read_text())["n_layers"] == 1
    keys = load_file(str(model_dir / "model.safetensors")).keys()
    assert any(".layer.0." in k for k in keys) and not any(".layer.1." in k for k in keys)
    assert len(AutoModelForSequenceClassification.from_pretrained(str(model_dir)).distilbert.transformer.layer) == 1
    assert "the bottom 1 transformer layer of the base, the layers above dropped" in (model_dir / "README.md").read_text()
    merged_again = merge_adapter(tmp_path / "run" / "adapter", tmp_path / "merged-at-load", log=lambda *_: None)
    texts = ["the delivery was late again", "love the new app"]
    assert np.allclose(Classifier(model_dir).logits(texts), Classifier(merged_again).logits(texts), atol=1e-4)
    assert recipe(model_dir, tmp_path / "retrain", tmp_path / "labels.csv").keep_layers == 1


@pytest.mark.parametrize("keep", [3, -1])
def test_keep_layers_must_fit_the_base(tiny_base, keep):
    from finetune.model_dir import load_for_classification

    with pytest.raises(ValueError, match=f"keep_layers = {keep}: the base .* has 2 layers"):
        load_for_classification(str(tiny_base), ["negative", "neutral", "positive"], keep)
