"""LoRA vs full fine-tuning throughput on the same model, same data, one run.

    python bench/train_speed.py [--base default] [--steps 20] [--batch-size 32] [--max-length 64]
    python bench/train_speed.py --recipe finetune/recipes/multilingual-default.toml [--sample 2048]
    python bench/train_speed.py --recipe finetune/recipes/multilingual-default.toml --compare 2048 [--val 600]

With ``--recipe``: the recipe's base, data file (a seeded sample), max length, chunking and LoRA settings; rows for
LoRA on length-bucketed batches (what the recipe trains with), LoRA on random batches (padding to each batch's
longest), and full fine-tuning (the word-embedding table frozen when it has over 100k rows, as a full fine-tune
of a 250k-piece table would be 96 M parameters of optimizer state for words a customer rarely writes).
Results go to train_speed-<recipe>.{json,md}.

Writes bench/results/train_speed.json and .md. Throughput = training examples per second over timed steps
(forward + backward + optimizer step) after warm-up steps, on whatever device accelerate picks.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import write_results  # noqa: E402

from finetune.base import resolve_base  # noqa: E402
from finetune.config import DataConfig, LoraSettings  # noqa: E402
from finetune.data import load_labelled, tokenize  # noqa: E402
from finetune.model_dir import load_for_classification, load_tokenizer  # noqa: E402
from finetune.train import build_lora_model, make_loader, parameter_counts  # noqa: E402


def measure(model, loader, steps: int, warmup: int, lr: float) -> dict:
    accelerator = Accelerator()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    model.train()
    batches = iter(loader)
    seen, started = 0, None
    for step in range(warmup + steps):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        if step == warmup:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            started = time.perf_counter()
        loss = model(**batch).loss
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        if step >= warmup:
            seen += batch["labels"].shape[0]
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"examples_per_second": seen / seconds, "seconds": seconds, "examples": seen,
            "device": str(accelerator.device)}


FULL_LR = 5e-5


def prepare_full_finetuning(model) -> float:
    """Full fine-tuning as measured here: every weight trains except a word-embedding table of over 100k rows (a
    250k-piece table would be 96 M parameters of optimizer state for words a customer rarely writes); its rate."""
    emb = model.get_input_embeddings()
    if emb.weight.shape[0] > 100_000:
        emb.weight.requires_grad_(False)
    return FULL_LR


def recipe_speed(args) -> None:
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    from finetune import typed_config
    from finetune.batching import padding_share
    from finetune.config import FinetuneConfig

    cfg = typed_config.load(FinetuneConfig, args.recipe, section="finetune")
    cfg.data.path = str(Path(cfg.data.path).expanduser())
    cfg.data.limit = args.sample
    base = resolve_base(cfg.base)
    tokenizer = load_tokenizer(base.source)
    ds, labels, _ = load_labelled(cfg.data)
    data = tokenize(ds, tokenizer, cfg.data.max_length, chunk_long=cfg.data.chunk_long,
                    max_chunks=cfg.data.max_chunks, stride=cfg.data.chunk_stride).remove_columns("text_index") \
        if cfg.data.chunk_long else tokenize(ds, tokenizer, cfg.data.max_length)
    bs = cfg.train.batch_size
    bucketed = make_loader(data, tokenizer, bs, shuffle=True, seed=0)
    plain = DataLoader(data, batch_size=bs, shuffle=True, collate_fn=DataCollatorWithPadding(tokenizer),
                       generator=torch.Generator().manual_seed(0))
    lengths = [len(x) for x in data["input_ids"]]
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    pad = {"bucketed": padding_share(lengths, bucketed.batch_sampler.batches()),
           "random": padding_share(lengths, [order[i:i + bs] for i in range(0, len(order), bs)])}
    results = {}
    for mode, loader in (("lora, length-bucketed", bucketed), ("lora, random batches", plain), ("full", bucketed)):
        set_seed(0)
        model = load_for_classification(base.source, labels)
        if mode.startswith("lora"):
            model = build_lora_model(model, cfg.lora)
            lr = cfg.train.learning_rate
        else:
            lr = prepare_full_finetuning(model)
        results[mode] = {**measure(model, loader, args.steps, args.warmup, lr), **parameter_counts(model)}
        print(f"{mode}: {results[mode]['examples_per_second']:.1f} examples/s", flush=True)
        del model
    name = Path(args.recipe).stem
    report = {"recipe": str(args.recipe), "base": cfg.base, "sample": args.sample, "rows": len(data),
              "batch_size": bs, "max_length": cfg.data.max_length, "steps": args.steps, "padding_share": pad,
              "lora": {"rank": cfg.lora.rank, "targets": cfg.lora.target_modules}, "results": results,
              "threads": torch.get_num_threads()}
    rows = "\n".join(f"| {m} | {r['examples_per_second']:.1f} | {r['trainable']:,} ({100 * r['share']:.2f}%) |"
                     for m, r in results.items())
    markdown = (f"# Training throughput of `{name}`\n\n`python bench/train_speed.py --recipe {args.recipe} --sample "
                f"{args.sample} --steps {args.steps}` — base `{cfg.base}`, batch {bs}, max length "
                f"{cfg.data.max_length}, {len(data)} rows after chunking, {torch.get_num_threads()} threads, "
                f"{args.steps} timed steps after {args.warmup} warm-up steps.\n\n"
                f"| mode | examples/s | trainable parameters |\n|---|---|---|\n{rows}\n\n"
                f"Pad tokens: {100 * pad['bucketed']:.1f}% with length buckets, {100 * pad['random']:.1f}% in random "
                f"batches.\n")
    write_results(args.out, f"train_speed-{name}", report, markdown)
    print(markdown)


# The settings compared at one training budget (--compare): the recipe's LoRA, a smaller attention-only LoRA, the
# recipe's LoRA with the LayerNorms trained too, and full fine-tuning (word-embedding table frozen above 100k rows).
COMPARED = (("lora r16, all linear (recipe)", {"rank": 16, "targets": "all-linear", "norms": False}),
            ("lora r8, attention q+v only", {"rank": 8, "targets": "q_lin,v_lin", "norms": False}),
            ("lora r16, all linear + LayerNorms", {"rank": 16, "targets": "all-linear", "norms": True}),
            # LoRA on the upper half of the encoder only (`frozen_layers` = half the depth): the backward pass stops there.
            ("lora r16, all linear, upper half of the layers", {"rank": 16, "targets": "all-linear", "norms": False,
                                                                "frozen_share": 0.5}),
            ("full fine-tuning", None))


def compare_quality(args) -> None:
    """Each setting trained on the same ``--compare`` training examples (one pass, length-bucketed batches, the
    recipe's batch size; LoRA at the recipe's rate, full at 5e-5), then scored on the same seeded sample of the
    recipe's VALIDATION split (never its test split): examples/s and macro-F1 at an equal budget."""
    import dataclasses
    import random
    from collections import Counter

    from finetune import typed_config
    from finetune.config import FinetuneConfig
    from finetune.data import prepare
    from finetune.metrics import classification_metrics

    cfg = typed_config.load(FinetuneConfig, args.recipe, section="finetune")
    cfg.data.path = str(Path(cfg.data.path).expanduser())
    base = resolve_base(cfg.base)
    tokenizer = load_tokenizer(base.source)
    prepared = prepare(cfg.data)
    labels = prepared.labels
    rng = random.Random(0)
    train_rows = rng.sample(range(len(prepared.splits["train"])), min(args.compare, len(prepared.splits["train"])))
    val_rows = rng.sample(range(len(prepared.splits["validation"])), min(args.val, len(prepared.splits["validation"])))
    train = tokenize(prepared.splits["train"].select(train_rows), tokenizer, cfg.data.max_length)
    val = prepared.splits["validation"].select(val_rows)
    val_tok = tokenize(val, tokenizer, cfg.data.max_length)
    results = {}
    for name, lora in COMPARED:
        set_seed(0)
        model = load_for_classification(base.source, labels)
        if lora is not None:
            frozen = int(model.config.num_hidden_layers * lora.get("frozen_share", 0))
            settings = dataclasses.replace(cfg.lora, rank=lora["rank"], alpha=2 * lora["rank"],
                                           target_modules=lora["targets"], train_layer_norms=lora["norms"],
                                           frozen_layers=frozen)
            model = build_lora_model(model, settings)
            lr = cfg.train.learning_rate
        else:
            lr = prepare_full_finetuning(model)
        loader = make_loader(train, tokenizer, cfg.train.batch_size, shuffle=True, seed=0)
        steps = len(loader)
        speed = measure(model, loader, steps - 1, 1, lr)
        model.eval()
        preds = []
        with torch.inference_mode():
            for batch in make_loader(val_tok, tokenizer, 64, shuffle=False):
                batch.pop("labels", None)
                preds += model(**batch).logits.argmax(-1).tolist()
        metrics = classification_metrics(val_tok["label"], preds, labels)   # an evaluation loader keeps the order
        results[name] = {**speed, **parameter_counts(model), "validation_macro_f1": metrics["macro_f1"],
                         "validation_accuracy": metrics["accuracy"]}
        print(f"{name}: {speed['examples_per_second']:.1f} ex/s, validation macro-F1 {metrics['macro_f1']:.3f}",
              flush=True)
        del model
    stem = Path(args.recipe).stem
    val_counts = Counter(labels[i] for i in val["label"])
    report = {"recipe": str(args.recipe), "base": cfg.base, "train_examples": len(train), "validation": len(val),
              "results": results, "threads": torch.get_num_threads(), "val_label_counts": dict(val_counts)}
    rows = "\n".join(f"| {m} | {r['validation_macro_f1']:.3f} | {r['validation_accuracy']:.3f} | "
                     f"{r['examples_per_second']:.1f} | {r['trainable']:,} ({100 * r['share']:.2f}%) |"
                     for m, r in results.items())
    markdown = (f"# LoRA settings vs full fine-tuning at one budget: `{stem}`\n\n`python bench/train_speed.py --recipe "
                f"{args.recipe} --compare {args.compare} --val {args.val}` — base `{cfg.base}`, each setting trained "
                f"on the same {len(train)} training examples (one pass, batch {cfg.train.batch_size}, max length "
                f"{cfg.data.max_length}), scored on the same {len(val)} validation examples; "
                f"{torch.get_num_threads()} threads.\n\n| setting | validation macro-F1 | accuracy | examples/s | "
                f"trainable parameters |\n|---|---|---|---|---|\n{rows}\n")
    write_results(args.out, f"train_compare-{stem}", report, markdown)
    print(markdown)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, help="measure a recipe (its base, data sample, LoRA settings)")
    ap.add_argument("--sample", type=int, default=2048)
    ap.add_argument("--base", default="default")
    ap.add_argument("--data", default=str(ROOT / "data" / "samples" / "airline_tweets_sample.csv"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--compare", type=int, default=0,
                    help="with --recipe: train each setting in COMPARED on this many examples and score validation")
    ap.add_argument("--val", type=int, default=600, help="validation examples scored by --compare")
    args = ap.parse_args()
    if args.recipe and args.compare:
        return compare_quality(args)
    if args.recipe:
        return recipe_speed(args)

    base = resolve_base(args.base)
    tokenizer = load_tokenizer(base.source)
    ds, labels, _ = load_labelled(DataConfig(path=args.data))
    loader = make_loader(tokenize(ds, tokenizer, args.max_length), tokenizer, args.batch_size, shuffle=True)
    results = {}
    for mode in ("lora", "full"):
        set_seed(0)
        model = load_for_classification(base.source, labels)
        if mode == "lora":
            model = build_lora_model(model, LoraSettings(rank=args.rank))
        lr = 5e-4 if mode == "lora" else 5e-5
        results[mode] = {**measure(model, loader, args.steps, args.warmup, lr), **parameter_counts(model)}
        print(f"{mode}: {results[mode]['examples_per_second']:.1f} examples/s, "
              f"trainable {results[mode]['trainable']:,} ({100 * results[mode]['share']:.2f}%)", flush=True)
    report = {
        "base": base.source, "base_kind": base.provenance.get("kind"), "batch_size": args.batch_size,
        "max_length": args.max_length, "steps": args.steps, "lora_rank": args.rank,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "results": results,
        "lora_speedup": results["lora"]["examples_per_second"] / results["full"]["examples_per_second"],
    }
    rows = "\n".join(f"| {m} | {r['examples_per_second']:.1f} | {r['trainable']:,} | {100 * r['share']:.2f}% |"
                     for m, r in results.items())
    markdown = (
        f"# Training throughput: LoRA vs full fine-tuning\n\n`python bench/train_speed.py` — base `{base.provenance.get('kind')}`, "
        f"batch {args.batch_size}, max length {args.max_length}, {args.steps} timed steps, device "
        f"{results['lora']['device']}, {torch.get_num_threads()} threads.\n\n"
        f"| mode | examples/s | trainable params | share |\n|---|---|---|---|\n{rows}\n\n"
        f"LoRA / full throughput: {report['lora_speedup']:.2f}x\n")
    write_results(args.out, "train_speed", report, markdown)
    print(f"LoRA / full: {report['lora_speedup']:.2f}x -> {args.out / 'train_speed.json'}")


if __name__ == "__main__":
    main()
