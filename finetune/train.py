"""LoRA fine-tuning on accelerate: CPU or GPU, mixed precision, accumulation, early stopping, resume."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

from .batching import LengthBucketBatchSampler
from .config import LoraSettings, TrainSettings
from .metrics import classification_metrics

CHECKPOINT = "checkpoint"
ADAPTER = "adapter"
STATE_FILE = "trainer_state.json"


class ResumeError(RuntimeError):
    """--resume was asked for but there is no usable checkpoint."""


def head_modules(model) -> list[str]:
    """Top-level modules outside the pretrained encoder (the classification head), trained in full."""
    prefix = model.base_model_prefix
    return [name for name, mod in model.named_children()
            if name != prefix and any(True for _ in mod.parameters())]


LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.")


def layer_norm_modules(model, frozen_layers: int = 0) -> list[str]:
    """The full dotted names of the model's LayerNorm modules. PEFT matches modules_to_save as a plain name suffix
    (no dot boundary), so full paths select exactly these modules and nothing whose name merely ends alike.
    With ``frozen_layers`` only those inside the layers that learn: not the embeddings' nor the frozen layers'."""
    names = [name for name, mod in model.named_modules() if isinstance(mod, torch.nn.LayerNorm)]
    if not frozen_layers:
        return names
    return [name for name in names
            if (m := LAYER_INDEX.search(name)) is not None and int(m.group(1)) >= frozen_layers]


def encoder_linear_names(model, heads: list[str]) -> list[str]:
    """The distinct leaf names of the encoder's Linear layers ("q_lin", "lin1", ...): what "all-linear" means,
    spelt out, because PEFT refuses the "all-linear" shorthand together with layers_to_transform."""
    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear) and name.split(".", 1)[0] not in heads})


def build_lora_model(model, lora: LoraSettings) -> PeftModel:
    heads = head_modules(model)
    saved = heads + (layer_norm_modules(model, lora.frozen_layers) if lora.train_layer_norms else [])
    targets = lora.target_modules.strip()
    target_modules = "all-linear" if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
    layers = {}
    if lora.frozen_layers:
        depth = model.config.num_hidden_layers
        if not 0 < lora.frozen_layers < depth:
            raise ValueError(f"lora.frozen_layers = {lora.frozen_layers}: this base has {depth} layers, so it must be "
                             f"between 0 and {depth - 1} (at least one layer has to learn)")
        if target_modules == "all-linear":
            target_modules = encoder_linear_names(model, heads)
        # "layer.N" (DistilBERT, BERT) or "layers.N" (newer encoders). Linear layers outside the numbered ones,
        # such as a hub BERT's pooler, stay as pretrained with this setting.
        layers = {"layers_to_transform": list(range(lora.frozen_layers, depth)), "layers_pattern": ["layer", "layers"]}
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=target_modules, exclude_modules=heads, modules_to_save=saved, **layers,
    )
    return get_peft_model(model, config)


def parameter_counts(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total, "share": trainable / total}


def resolve_precision(setting: str) -> str:
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def make_loader(dataset, tokenizer, batch_size: int, shuffle: bool = False, seed: int = 42) -> DataLoader:
    """Evaluation loaders keep the data's order; shuffled (training) loaders use length buckets."""
    collate = DataCollatorWithPadding(tokenizer)
    if shuffle:
        return DataLoader(dataset, batch_sampler=LengthBucketBatchSampler(
            [len(ids) for ids in dataset["input_ids"]], batch_size, seed=seed),
            collate_fn=collate,
            # Its own generator: creating an iterator draws a seed from it, not from the global RNG that
            # dropout uses, so a run resumed mid-epoch continues with the very random stream it was cut in.
            generator=torch.Generator().manual_seed(seed))
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate)


@torch.no_grad()
def collect_logits(model, loader, device: torch.device | None = None, gather=None, progress: str | None = None):
    """(logits, labels) as float64/int numpy arrays over a loader of collated batches."""
    model.eval()
    device = device or next(model.parameters()).device
    all_logits, all_labels = [], []
    for batch in tqdm(loader, desc=progress, disable=progress is None, leave=False):
        batch = {k: v.to(device) for k, v in batch.items() if k != "soft"}
        labels = batch.pop("labels", None)
        logits = model(**batch).logits.float()
        if gather is not None:
            logits, labels = gather((logits, labels))
        all_logits.append(logits.cpu())
        if labels is not None:
            all_labels.append(labels.cpu())
    logits = torch.cat(all_logits).double().numpy()
    labels = torch.cat(all_labels).numpy() if all_labels else None
    return logits, labels


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor | None,
                      temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al.: KL(teacher || student) at temperature T, scaled by T^2 so its gradients keep their size,
    plus ``alpha`` x cross-entropy on the hard labels."""
    t = float(temperature)
    log_student = torch.nn.functional.log_softmax(logits.float() / t, dim=-1)
    soft_teacher = teacher.float()
    if t != 1.0:   # soften the teacher's probabilities the same way: p^(1/T), renormalised
        soft_teacher = torch.nn.functional.softmax(torch.log(soft_teacher.clamp_min(1e-8)) / t, dim=-1)
    loss = torch.nn.functional.kl_div(log_student, soft_teacher, reduction="batchmean") * t * t
    if alpha and labels is not None:
        loss = loss + alpha * torch.nn.functional.cross_entropy(logits.float(), labels)
    return loss


def batch_loss(model, batch: dict, settings: TrainSettings) -> torch.Tensor:
    """The model's own cross-entropy, or distillation when the batch carries a teacher's ``soft`` probabilities."""
    if "soft" not in batch:
        return model(**batch).loss
    inputs = {k: v for k, v in batch.items() if k not in ("soft", "labels")}
    return distillation_loss(model(**inputs).logits, batch["soft"], batch.get("labels"),
                             settings.distill_temperature, settings.distill_alpha)


def _save_checkpoint(accelerator: Accelerator, out_dir: Path, state: dict) -> None:
    """Atomic: write into a temp dir, then swap it in, so a crash never leaves a half checkpoint."""
    final, tmp = out_dir / CHECKPOINT, out_dir / (CHECKPOINT + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    accelerator.save_state(str(tmp))
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=2))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def train(model: PeftModel, tokenized, tokenizer, labels: list[str], settings: TrainSettings,
          out_dir: Path, resume: bool = False, log=print) -> dict:
    """Train ``model`` in place; the best adapter (by validation macro-F1) is saved to ``out_dir/adapter``.

    Returns the trainer state: epochs done, history, best epoch and metric, and the accelerator's device.
    """
    out_dir = Path(out_dir)
    accelerator = Accelerator(
        mixed_precision=resolve_precision(settings.mixed_precision),
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(settings.seed)
    if settings.cpu_threads:
        torch.set_num_threads(settings.cpu_threads)
    train_dl = make_loader(tokenized["train"], tokenizer, settings.batch_size, shuffle=True, seed=settings.seed)
    val_dl = make_loader(tokenized["validation"], tokenizer, settings.eval_batch_size)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=settings.learning_rate, weight_decay=settings.weight_decay)
    total_steps = settings.epochs * math.ceil(len(train_dl) / settings.gradient_accumulation_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total_steps), total_steps)
    model, optimizer, train_dl, val_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, val_dl, scheduler)

    state = {"epoch": 0, "step": 0, "history": [], "best_epoch": 0, "best_macro_f1": -1.0, "bad_epochs": 0,
             "stopped_early": False, "partial": {"loss_sum": 0.0, "seen": 0, "seconds": 0.0}}
    if resume:
        ckpt = out_dir / CHECKPOINT
        if not (ckpt / STATE_FILE).is_file():
            raise ResumeError(f"--resume: no checkpoint in {ckpt}; start without --resume")
        accelerator.load_state(str(ckpt))
        state = {**state, **json.loads((ckpt / STATE_FILE).read_text())}
        log(f"resumed from {ckpt} after epoch {state['epoch']}, step {state['step']} of the next")

    sampler = getattr(train_dl, "batch_sampler", None)
    every = max(0.0, float(settings.checkpoint_minutes or 0)) * 60
    for epoch in range(state["epoch"] + 1, settings.epochs + 1):
        if state["stopped_early"]:
            break
        for loader in (sampler, train_dl):
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
        model.train()
        skip = state["step"]
        partial = state["partial"] if skip else {"loss_sum": 0.0, "seen": 0, "seconds": 0.0}
        loss_sum, seen, done_seconds = partial["loss_sum"], partial["seen"], partial["seconds"]
        batches = accelerator.skip_first_batches(train_dl, skip) if skip else train_dl
        started = last_save = time.perf_counter()
        bar = tqdm(batches, desc=f"epoch {epoch}/{settings.epochs}", total=len(train_dl), initial=skip,
                   disable=not accelerator.is_local_main_process)
        step = skip
        for batch in bar:
            with accelerator.accumulate(model):
                loss = batch_loss(model, batch, settings)
                accelerator.backward(loss)
                if accelerator.sync_gradients and settings.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            n = batch["labels"].shape[0]
            loss_sum, seen, step = loss_sum + loss.item() * n, seen + n, step + 1
            now = time.perf_counter()
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", ex_s=f"{seen / (done_seconds + now - started):.1f}")
            if every and now - last_save >= every and step < len(train_dl):
                # Mid-epoch checkpoint: a run killed now resumes at this batch (the order is seeded per epoch).
                state.update(step=step, partial={"loss_sum": loss_sum, "seen": seen,
                                                 "seconds": done_seconds + now - started})
                _save_checkpoint(accelerator, out_dir, state)
                last_save = time.perf_counter()
                log(f"checkpoint saved at epoch {epoch}, step {step}/{len(train_dl)}")
        train_seconds = done_seconds + time.perf_counter() - started
        logits, y = collect_logits(model, val_dl, accelerator.device, gather=accelerator.gather_for_metrics)
        val_loss = float(torch.nn.functional.cross_entropy(torch.as_tensor(logits), torch.as_tensor(y)).item())
        metrics = classification_metrics(y, logits.argmax(axis=1), labels)
        record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "val_loss": val_loss,
                  "val_accuracy": metrics["accuracy"], "val_macro_f1": metrics["macro_f1"],
                  "train_seconds": train_seconds, "train_examples_per_second": seen / max(train_seconds, 1e-9)}
        state["history"].append(record)
        log(f"epoch {epoch}: train loss {record['train_loss']:.4f}, val loss {val_loss:.4f}, "
            f"val acc {metrics['accuracy']:.4f}, val macro-F1 {metrics['macro_f1']:.4f}, "
            f"{record['train_examples_per_second']:.1f} examples/s")
        if metrics["macro_f1"] > state["best_macro_f1"]:
            state.update(best_epoch=epoch, best_macro_f1=metrics["macro_f1"], bad_epochs=0)
            accelerator.unwrap_model(model).save_pretrained(str(out_dir / ADAPTER))
        else:
            state["bad_epochs"] += 1
            if state["bad_epochs"] >= settings.early_stopping_patience:
                state["stopped_early"] = True
                log(f"early stopping: no macro-F1 gain for {state['bad_epochs']} epoch(s)")
        state.update(epoch=epoch, step=0, partial={"loss_sum": 0.0, "seen": 0, "seconds": 0.0})
        _save_checkpoint(accelerator, out_dir, state)
        log(f"checkpoint saved after epoch {epoch}")
    state["device"] = str(accelerator.device)
    state["mixed_precision"] = accelerator.mixed_precision
    return state


