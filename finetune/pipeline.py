"""One fine-tuning run: data -> base -> LoRA training -> calibration -> merge (verified) -> model directory + report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from accelerate.utils import set_seed
from peft import PeftModel

from . import data as data_mod
from .base import resolve_base
from .calibrate import confidence_thresholds, expected_calibration_error, fit_temperature, reliability, softmax
from .config import FinetuneConfig
from .merge import merge_and_verify
from .metrics import classification_metrics
from .model_card import render_card
from .model_dir import META_FILE, load_for_classification, load_tokenizer, save_model_dir, write_json
from .report import plot_confusion, plot_history, plot_reliability
from .train import ADAPTER, build_lora_model, collect_logits, make_loader, parameter_counts, train

MODEL = "model"
FORMAT_VERSION = 1


def run(cfg: FinetuneConfig, log=print, prepared: data_mod.PreparedData | None = None, extra_meta: dict | None = None) -> dict:
    """Run the whole pipeline; returns the metadata written to ``feedbackbot.json``.

    ``prepared``: data already split (``feedbackbot distill`` passes soft-labelled splits) instead of ``cfg.data``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_base(cfg.base)
    log(f"base model: {base.source} ({base.provenance.get('kind')})")
    prepared = prepared or data_mod.prepare(cfg.data)
    log(f"data: {prepared.stats}")
    tokenizer = load_tokenizer(base.source)
    tokenized = data_mod.tokenize(prepared.splits, tokenizer, cfg.data.max_length)
    if cfg.data.chunk_long:
        # Training sees every chunk of a long text (up to max_chunks); validation and test stay one row per
        # text (truncated), so model choice and calibration are per message, as the bot is judged.
        chunks = data_mod.tokenize(prepared.splits["train"], tokenizer, cfg.data.max_length, chunk_long=True,
                                   max_chunks=cfg.data.max_chunks, stride=cfg.data.chunk_stride)
        log(f"chunking: {len(prepared.splits['train'])} training texts -> {len(chunks)} chunks")
        tokenized["train"] = chunks.remove_columns("text_index")

    set_seed(cfg.train.seed)
    if cfg.keep_layers:
        log(f"keeping the bottom {cfg.keep_layers} transformer layers of the base, the layers above dropped")
    model = build_lora_model(load_for_classification(base.source, prepared.labels, cfg.keep_layers), cfg.lora)
    params = parameter_counts(model)
    write_json(out / "trainable_parameters.json", params)
    log(f"trainable parameters: {params['trainable']:,} of {params['total']:,} ({100 * params['share']:.2f}%)")
    state = train(model, tokenized, tokenizer, prepared.labels, cfg.train, out, resume=cfg.resume, log=log)
    del model

    # Reload the best adapter on a fresh base: the same path the bot uses to merge a shipped adapter.
    device = torch.device(state["device"])
    adapter_model = PeftModel.from_pretrained(load_for_classification(base.source, prepared.labels, cfg.keep_layers),
                                              str(out / ADAPTER)).to(device).eval()
    val_loader = make_loader(tokenized["validation"], tokenizer, cfg.train.eval_batch_size)
    merged, diff, val_logits, val_y = merge_and_verify(adapter_model, val_loader, cfg.merge_tolerance)
    log(f"merge verified: max |merged - adapter| logit difference {diff:.2e}")

    temperature = fit_temperature(val_logits, val_y)
    calibration = {
        "temperature": temperature,
        "ece_validation_before": expected_calibration_error(softmax(val_logits), val_y),
        "ece_validation_after": expected_calibration_error(softmax(val_logits, temperature), val_y),
    }
    thresholds = confidence_thresholds(softmax(val_logits, temperature), val_y, prepared.labels, cfg.target_precision)
    metrics = {"validation": classification_metrics(val_y, val_logits.argmax(1), prepared.labels)}
    test_logits = test_y = None
    if "test" in tokenized:
        test_logits, test_y = collect_logits(merged, make_loader(tokenized["test"], tokenizer, cfg.train.eval_batch_size),
                                             device, progress="test")
        metrics["test"] = classification_metrics(test_y, test_logits.argmax(1), prepared.labels)
        calibration["ece_test_before"] = expected_calibration_error(softmax(test_logits), test_y)
        calibration["ece_test_after"] = expected_calibration_error(softmax(test_logits, temperature), test_y)
    log(f"temperature {temperature:.3f}; ECE (validation) {calibration['ece_validation_before']:.4f} -> "
        f"{calibration['ece_validation_after']:.4f}")

    meta = {
        "format_version": FORMAT_VERSION,
        "labels": prepared.labels,
        "temperature": temperature,
        "thresholds": thresholds,
        "calibration": calibration,
        "metrics": metrics,
        "merge": {"max_abs_logit_diff": diff, "tolerance": cfg.merge_tolerance},
        "base": {"source": base.source, **base.provenance},
        "data": {"path": cfg.data.path, "fingerprint": prepared.fingerprint, "stats": prepared.stats,
                 "max_length": cfg.data.max_length, "config": dataclasses.asdict(cfg.data)},
        "training": {"lora": dataclasses.asdict(cfg.lora), "settings": dataclasses.asdict(cfg.train),
                     "keep_layers": cfg.keep_layers,
                     "parameters": params, "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
                     "stopped_early": state["stopped_early"], "device": state["device"],
                     "mixed_precision": state["mixed_precision"]},
        **(extra_meta or {}),
    }
    save_model_dir(out / MODEL, merged.cpu(), tokenizer, meta, render_card(meta))
    # The adapter directory carries the same metadata, so a bot can ship it alone and merge at load.
    write_json(out / ADAPTER / META_FILE, meta)
    _write_report(out, meta, state["history"], val_logits, val_y, test_logits, test_y)
    log(f"model directory: {out / MODEL}")
    return meta


def _write_report(out: Path, meta: dict, history: list[dict], val_logits, val_y, test_logits, test_y) -> None:
    labels, t = meta["labels"], meta["temperature"]
    write_json(out / "metrics.json", meta["metrics"])
    write_json(out / "history.json", history)
    plot_history(history, out / "history.png")
    final = meta["metrics"].get("test") or meta["metrics"]["validation"]
    write_json(out / "confusion_matrix.json", final["confusion_matrix"])
    plot_confusion(final["confusion_matrix"]["matrix"], labels, out / "confusion_matrix.png")
    rel_before, rel_after = reliability(softmax(val_logits), val_y), reliability(softmax(val_logits, t), val_y)
    write_json(out / "calibration.json", {**meta["calibration"], "thresholds": meta["thresholds"],
                                          "reliability_before": rel_before, "reliability_after": rel_after})
    plot_reliability(rel_before, rel_after, meta["calibration"]["ece_validation_before"],
                     meta["calibration"]["ece_validation_after"], out / "reliability.png")


def evaluate(model_dir: Path, data_cfg, batch_size: int = 128, out: Path | None = None) -> dict:
    """Metrics of a saved model directory on a whole labelled file (no split), using its stored temperature."""
    from .model_dir import load_model_dir

    model, tokenizer, meta = load_model_dir(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    data_cfg = dataclasses.replace(data_cfg, labels=data_cfg.labels or labels)
    ds, file_labels, stats = data_mod.load_labelled(data_cfg)
    if file_labels != labels:
        raise data_mod.DataError(f"{data_cfg.path}: label set {file_labels} differs from the model's {labels}")
    tokenized = data_mod.tokenize(ds, tokenizer, meta.get("data", {}).get("max_length", data_cfg.max_length))
    logits, y = collect_logits(model, make_loader(tokenized, tokenizer, batch_size), progress="evaluate")
    t = float(meta.get("temperature", 1.0))
    result = classification_metrics(y, logits.argmax(1), labels)
    result["ece"] = expected_calibration_error(softmax(logits, t), y)
    result["temperature"] = t
    result["data_stats"] = stats
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "evaluation.json", result)
        plot_confusion(result["confusion_matrix"]["matrix"], labels, out / "confusion_matrix.png")
    return result


__all__ = ["run", "evaluate", "MODEL"]
