"""Hyper-parameter sweep: every combination of a grid is one full fine-tuning run; the winner is picked on VALIDATION.

A TOML file holds the base run (``[finetune]``, as for ``feedbackbot finetune``) and the sweep (``[sweep]``)::

    [sweep]
    out = "runs/sweep"
    jobs = 4                     # trials at once, each its own process (one GPU holds several small trials)
    [sweep.grid]
    "data.max_length" = [64, 128]
    "lora.rank" = [8, 16]
    "train.learning_rate" = [5e-4, 1e-3]

Test metrics are never used to choose and are not shown per trial (only for the winner), so the test split stays
an honest estimate. A trial whose directory already holds a finished run is reused: a sweep cut short (a time
limit, a crash) continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import multiprocessing
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from . import typed_config
from .config import FinetuneConfig
from .model_dir import META_FILE, write_json
from .train import ADAPTER

METRICS = ("macro_f1", "accuracy")


class SweepError(RuntimeError):
    """No trial of a sweep finished."""


@dataclass
class SweepConfig:
    out: str = "runs/sweep"
    jobs: int = 1                        # trials run at once (separate processes)
    metric: str = "macro_f1"             # validation metric that picks the winner: macro_f1 | accuracy
    grid: dict[str, list] = field(default_factory=dict)  # dotted [finetune] setting -> values to try


@dataclass
class Trial:
    name: str
    overrides: dict
    config: FinetuneConfig


def with_overrides(base: FinetuneConfig, overrides: dict) -> FinetuneConfig:
    """A copy of ``base`` with dotted settings replaced, type-checked like the TOML file (unknown keys fail)."""
    table = dataclasses.asdict(base)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        target = table
        for p in parents:
            if not isinstance(target.get(p), dict):
                raise typed_config.ConfigError(f"sweep.grid: {dotted!r} is not a [finetune] setting")
            target = target[p]
        if leaf not in target or isinstance(target[leaf], dict) and not isinstance(value, dict):
            raise typed_config.ConfigError(f"sweep.grid: {dotted!r} is not a [finetune] setting")
        # A table value sets several settings that belong together, e.g. "lora" = {rank = 16, alpha = 32}.
        target[leaf] = {**target[leaf], **value} if isinstance(value, dict) else value
    return typed_config.build(FinetuneConfig, table, where="finetune")


def plan(base: FinetuneConfig, sweep: SweepConfig) -> list[Trial]:
    if sweep.metric not in METRICS:
        raise typed_config.ConfigError(f"sweep.metric must be one of {', '.join(METRICS)}, got {sweep.metric!r}")
    if sweep.jobs < 1:
        raise typed_config.ConfigError("sweep.jobs must be at least 1")
    for key, values in sweep.grid.items():
        if not values:
            raise typed_config.ConfigError(f"sweep.grid: {key!r} has no values")
    keys = list(sweep.grid)
    trials = []
    for i, combo in enumerate(itertools.product(*(sweep.grid[k] for k in keys)), start=1):
        overrides = dict(zip(keys, combo))
        name = f"trial-{i:02d}"
        cfg = with_overrides(base, overrides)
        cfg.out = str(Path(sweep.out) / name)
        trials.append(Trial(name, overrides, cfg))
    return trials


def _finished_meta(cfg: FinetuneConfig) -> dict | None:
    meta_path = Path(cfg.out) / ADAPTER / META_FILE
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    recorded = meta.get("sweep_config")
    return meta if recorded == dataclasses.asdict(cfg) else None


def _run_trial(cfg: FinetuneConfig, quiet: bool) -> dict:
    """One trial (also the body of a worker process): the ordinary pipeline, its log in the trial directory."""
    from .pipeline import run

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    streams = sys.stdout, sys.stderr
    with open(out / "train.log", "w", encoding="utf-8") as log_file:
        if quiet:  # worker processes: progress bars go to the trial log, not over each other on the terminal
            sys.stdout = sys.stderr = log_file
        try:
            meta = run(cfg, log=lambda msg: print(msg, file=log_file, flush=True))
        finally:
            sys.stdout, sys.stderr = streams
    meta["sweep_config"] = dataclasses.asdict(cfg)
    meta["sweep_seconds"] = time.monotonic() - started
    write_json(out / ADAPTER / META_FILE, meta)
    return meta


def _attempt(cfg: FinetuneConfig, quiet: bool) -> dict:
    """Run a trial; a failure is recorded (error.txt, the table, the exit status) and the other trials go on."""
    try:
        return {"meta": _run_trial(cfg, quiet=quiet)}
    except Exception as exc:  # noqa: BLE001 - reported per trial, never swallowed: see run_sweep
        (Path(cfg.out) / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        return {"error": f"{type(exc).__name__}: {exc}"}


def _worker(cfg: FinetuneConfig) -> dict:
    return _attempt(cfg, quiet=True)


def _summary(trial: Trial, meta: dict | None, error: str | None, metric: str) -> dict:
    row = {"name": trial.name, "overrides": trial.overrides, "out": trial.config.out, "status": "failed" if error else "done"}
    if error:
        row["error"] = error
        return row
    val = meta["metrics"]["validation"]
    row.update({
        "validation": {"accuracy": val["accuracy"], "macro_f1": val["macro_f1"],
                       "ece_after": meta["calibration"]["ece_validation_after"],
                       "coverage": meta["thresholds"]["coverage"]},
        "score": val[metric],
        "best_epoch": meta["training"]["best_epoch"],
        "epochs_run": meta["training"]["epochs_run"],
        "seconds": meta.get("sweep_seconds"),
    })
    return row


def run_sweep(base: FinetuneConfig, sweep: SweepConfig, log=print) -> dict:
    trials = plan(base, sweep)
    out = Path(sweep.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    todo = []
    for trial in trials:
        meta = _finished_meta(trial.config)
        if meta is not None:
            results[trial.name] = _summary(trial, meta, None, sweep.metric)
            log(f"{trial.name}: reusing the finished run in {trial.config.out}")
        else:
            todo.append(trial)
    log(f"sweep: {len(trials)} trials ({len(todo)} to run, {sweep.jobs} at once) -> {out}")
    bar = tqdm(total=len(todo), desc="sweep", unit="trial")
    if sweep.jobs == 1:
        for trial in todo:
            result = _attempt(trial.config, quiet=False)
            results[trial.name] = _summary(trial, result.get("meta"), result.get("error"), sweep.metric)
            bar.update(1)
    else:
        context = multiprocessing.get_context("spawn")  # fresh interpreters: safe with CUDA and torch threads
        with ProcessPoolExecutor(max_workers=sweep.jobs, mp_context=context) as pool:
            futures = {pool.submit(_worker, trial.config): trial for trial in todo}
            for future in as_completed(futures):
                trial, result = futures[future], future.result()
                results[trial.name] = _summary(trial, result.get("meta"), result.get("error"), sweep.metric)
                bar.update(1)
                bar.set_postfix_str(f"{trial.name} {results[trial.name].get('score', 'failed')}")
    bar.close()
    rows = [results[t.name] for t in trials]
    done = [r for r in rows if r["status"] == "done"]
    if not done:
        raise SweepError(f"every sweep trial failed; first error: {rows[0].get('error')} (see {out}/trial-*/)")
    # Ties go to the earlier trial: grids list the cheaper settings first.
    best = max(done, key=lambda r: (r["score"], -rows.index(r)))
    best_meta = json.loads((Path(best["out"]) / ADAPTER / META_FILE).read_text())
    summary = {"metric": f"validation {sweep.metric}", "grid": sweep.grid, "trials": rows, "best": best["name"],
               "best_overrides": best["overrides"], "best_out": best["out"],
               "best_test": best_meta["metrics"].get("test"),
               "failed": [r["name"] for r in rows if r["status"] == "failed"]}
    write_json(out / "sweep.json", summary)
    (out / "sweep.md").write_text(markdown(summary), encoding="utf-8")
    from .report import plot_sweep

    plot_sweep(rows, best["name"], sweep.metric, out / "sweep.png")
    log(f"best by validation {sweep.metric}: {best['name']} {best['overrides']} -> {best['score']:.4f}")
    return summary


def _fmt(value) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def markdown(summary: dict) -> str:
    keys = list(summary["grid"])
    head = "| trial | " + " | ".join(f"`{k}`" for k in keys) + " | val macro-F1 | val accuracy | best epoch | minutes |"
    lines = [f"# Sweep — chosen by {summary['metric']}", "", head, "|" + "---|" * (len(keys) + 5)]
    for r in summary["trials"]:
        cells = [_fmt(r["overrides"][k]) for k in keys]
        if r["status"] == "done":
            v = r["validation"]
            mins = "" if r.get("seconds") is None else f"{r['seconds'] / 60:.1f}"
            tail = [f"{v['macro_f1']:.4f}", f"{v['accuracy']:.4f}", str(r["best_epoch"]), mins]
        else:
            tail = ["failed", r["error"][:60], "", ""]
        name = f"**{r['name']}**" if r["name"] == summary["best"] else r["name"]
        lines.append("| " + " | ".join([name, *cells, *tail]) + " |")
    lines += ["", f"Winner: **{summary['best']}** `{json.dumps(summary['best_overrides'])}`."]
    test = summary.get("best_test")
    if test:
        lines.append(f"Its test split (looked at once, after choosing): accuracy {test['accuracy']:.4f}, "
                     f"macro-F1 {test['macro_f1']:.4f}.")
    return "\n".join(lines) + "\n"


def load(path: Path | None) -> tuple[FinetuneConfig, SweepConfig]:
    base = typed_config.load(FinetuneConfig, path, section="finetune")
    sweep = typed_config.load(SweepConfig, path, section="sweep")
    return base, sweep
