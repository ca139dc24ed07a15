"""The `feedbackbot` command: bot channels and tools, plus the finetune commands."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections import Counter
from pathlib import Path

from finetune import cli as finetune_cli
from finetune.typed_config import ConfigError

from .config import BotConfig, load_config


def _bot_config(args: argparse.Namespace) -> BotConfig:
    cfg = load_config(args.config)
    if getattr(args, "model", None):
        cfg.model = dataclasses.replace(cfg.model, path=str(args.model))
    if getattr(args, "db", None):
        cfg.db = dataclasses.replace(cfg.db, url=args.db)
    if getattr(args, "templates", None):
        cfg.templates = dataclasses.replace(cfg.templates, directory=str(args.templates))
    return cfg


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_serve(args) -> int:
    import uvicorn

    from .channels.http import create_app
    from .core import Bot

    cfg = _bot_config(args)
    if args.host:
        cfg.server.host = args.host
    if args.port:
        cfg.server.port = args.port
    bot = Bot.from_config(cfg, _log)
    _log(f"model {bot.classifier.version}; store {bot.store.engine.url.render_as_string(hide_password=True)}")
    _log(f"chat: http://{cfg.server.host}:{cfg.server.port}/  widget: <script src=\"http://{cfg.server.host}:"
         f"{cfg.server.port}/widget.js\" defer></script>  API docs: /api/docs")
    watcher = None
    if cfg.models.poll_s > 0:          # follow the registry's serving version (feedbackbot models promote)
        from .reloader import ModelWatcher

        watcher = ModelWatcher(bot, cfg.models.poll_s, _log).start()
    worker = None
    if cfg.webhooks.urls:
        from .webhooks import WebhookWorker

        worker = WebhookWorker(bot.store, cfg.webhooks).start()
        _log(f"hand-off notifications: {len(cfg.webhooks.urls)} webhook(s); "
             f"{bot.store.outbox_pending()} deliveries pending")
    try:
        uvicorn.run(create_app(bot, cfg.server), host=cfg.server.host, port=cfg.server.port, log_level="info")
    finally:
        if worker is not None:
            worker.stop()
        if watcher is not None:
            watcher.stop()
    return 0


def cmd_chat(args) -> int:
    from .channels.terminal import run_chat
    from .core import Bot

    return run_chat(Bot.from_config(_bot_config(args), _log))


def cmd_classify(args) -> int:
    from .batch import classify_file
    from .classifier import Classifier
    from .model_source import resolve_model_dir

    cfg = _bot_config(args)
    classifier = Classifier.from_config(resolve_model_dir(cfg.model.path, _log), cfg.model, _log, args.batch_size)
    out = args.out or args.file.with_name(args.file.stem + ".classified" + (args.file.suffix if args.file.suffix
                                                                           in (".csv", ".jsonl") else ".csv"))
    n = classify_file(classifier, args.file, out, args.text_column, args.encoding)
    _log(f"{n} rows -> {out}")
    return 0


def cmd_calibrate(args) -> int:
    from finetune.config import DataConfig
    from finetune.data import load_labelled, read_table

    from .classifier import Classifier
    from .domain_calibration import CalibrationDataError, calibrate
    from .model_source import resolve_model_dir

    cfg = _bot_config(args)
    ds, names, _ = load_labelled(DataConfig(path=str(args.data), text_column=args.text_column,
                                            label_column=args.label_column, encoding=args.encoding, labels=None))
    raw = read_table(str(args.data), args.encoding)
    if "source" in raw.column_names:
        # `export --labelled --include-model` rows labelled by the model itself: fitting on them is circular.
        sources = Counter(str(s) for s in raw["source"])
        _log("label sources: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))
        if sources.get("model"):
            raise CalibrationDataError(
                f"{sources['model']} rows have source=model (the model's own predictions); calibrate on labels a "
                "person gave, exported without --include-model")
    _log("note: rows a person corrected are mostly messages the model was unsure of or got wrong; the fitted "
         "temperature is only as representative as the sample (best: a random sample of traffic, labelled)")
    # fitted on the model's own logits: an earlier (perhaps stale or invalid) calibration in the config plays no part
    from .core import without_business_calibration
    model_cfg = without_business_calibration(cfg).model
    classifier = Classifier.from_config(resolve_model_dir(cfg.model.path, _log), model_cfg, _log)
    result = calibrate(classifier, list(ds["text"]), [names[i] for i in ds["label"]], args.calibrator)
    _log(f"{result.messages} labelled messages ({', '.join(result.classes)}); model {result.model_version}")
    _log("on messages each calibration was not fitted on (two folds): log-loss / ECE / accuracy")
    shown = {"model": f"model's own temperature {classifier.model_temperature:g}", "temperature": "temperature",
             "temperature+bias": "temperature + class biases", "scales+bias": "class scales + biases"}
    for name, held in result.held_out.items():
        chosen = "   <- chosen" if name == result.method else ""
        _log(f"  {shown[name]:<34} {held.nll:.3f} / {held.ece:.3f} / {held.accuracy:.3f}{chosen}")
    if result.biases and args.calibrator == "auto":
        _log(f"the {'scales and ' if result.scales else ''}biases move decisions as well as confidence: this model "
             "leans on your messages, and correcting the lean predicted held-out messages better")
    tables = (("biases", result.biases), ("scales", result.scales))
    for table, fitted in tables:
        if not fitted and result.model_version in getattr(cfg.model, table):
            _log(f'remove [model.{table}."{result.model_version}"] from the config: those {table} were fitted with '
                 f"another temperature, and this calibration has none")
    fitted = [table for table, values in tables if values]
    _log(f"temperature {result.temperature:.4f}"
         + (f", scales {', '.join(f'{k} {v:.3f}' for k, v in result.scales.items())}" if result.scales else "")
         + (f", biases {', '.join(f'{k} {v:+.3f}' for k, v in result.biases.items())}" if result.biases else "")
         + "; add to the bot's config file (an existing [model.temperatures] table takes the entry line; replace an "
         "earlier entry for this version"
         + (f", and its {' and '.join(fitted)} table{'s' if len(fitted) > 1 else ''}" if fitted else "") + "):")
    print(result.toml(), end="")
    return 0


def cmd_templates_check(args) -> int:
    from .render import Renderer

    cfg = _bot_config(args)
    labels = args.labels.split(",") if args.labels else None
    if labels is None:
        from .model_source import resolve_model_dir
        from finetune.model_dir import read_meta
        try:
            labels = read_meta(resolve_model_dir(cfg.model.path, _log)).get("labels")
        except Exception as exc:  # the check must not depend on a model being present
            _log(f"(no model labels: {exc}); checking negative,neutral,positive")
        labels = labels or ["negative", "neutral", "positive"]
    renderer = Renderer(cfg.templates.directory or None)
    # as the bot checks at start: the no-name rendering too while [templates] business_name is unset
    for line in renderer.check(labels, unnamed=cfg.templates.name_unset):
        print(line)
    if warning := cfg.templates.name_warning():
        print(f"warning: {warning}")
    print(f"ok: {len(renderer.keys())} templates in {renderer.directory} render for labels {', '.join(labels)}")
    return 0


def cmd_export(args) -> int:
    from .export import export
    from .store import Store

    cfg = _bot_config(args)
    n = export(Store(cfg.db.url), args.out, labelled=args.labelled, include_model=args.include_model,
               min_confidence=args.min_confidence, redact=cfg.store.redact)
    _log(f"{n} rows -> {args.out}")
    return 0


def _read_password(name: str) -> str:
    """From the terminal (asked twice, not echoed) or, when stdin is not a terminal, its first line."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def cmd_operators(args) -> int:
    from .operators import OperatorError, Operators
    from .store import Store

    ops = Operators(Store(_bot_config(args).db.url))
    if args.operators_command == "add":
        try:
            ops.add(args.name, _read_password(args.name), args.role)
        except OperatorError as exc:
            raise ValueError(str(exc)) from None
        _log(f"operator {args.name!r} added ({args.role})")
    elif args.operators_command == "list":
        for op in ops.list():
            locked = op["locked_until"]
            print(f"{op['name']}\t{op['role']}\tcreated {op['created_at']:%Y-%m-%d}\tlast login "
                  f"{op['last_login_at'] or 'never'}" + (f"\tlocked until {locked}" if locked else ""))
    elif not ops.remove(args.name):
        raise ValueError(f"no operator named {args.name!r}")
    else:
        _log(f"operator {args.name!r} removed (and logged out)")
    return 0


def _who(args) -> str:
    import getpass

    if args.by:
        return args.by
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:       # no login name (a container without a passwd entry)
        return "cli"


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items() if what != "before")


def cmd_purge(args) -> int:
    from datetime import datetime, timedelta, timezone

    from .store import Store

    cfg = _bot_config(args)
    days = cfg.store.retain_days
    if days < 0:
        raise ValueError(f"[store] retain_days must be 0 (keep forever) or more, not {days}")
    if days == 0:
        print("[store] retain_days = 0: conversations are kept forever; nothing to purge")
        return 0
    before = datetime.now(timezone.utc) - timedelta(days=days)
    counts = Store(cfg.db.url).purge(before, by=_who(args), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {_counts(counts)} (conversations idle since before {before:%Y-%m-%d %H:%M} UTC, "
          f"retain_days = {days})")
    return 0


def cmd_erase(args) -> int:
    from .sessions import conversation_id
    from .store import Store

    store = Store(_bot_config(args).db.url)
    cid = args.conversation
    if cid is None:     # --session: the public conversation id, or the customer's secret session token
        cid = args.session if store.exists(args.session) else conversation_id(args.session)
    counts = store.erase_conversation(cid, by=_who(args))
    if counts["conversations"]:
        print(f"erased conversation {cid}: {_counts(counts)}")
    else:
        print(f"nothing is stored under conversation {cid}; nothing erased (the request is in the audit log)")
    return 0


def _parser_with_config(config_help: str):
    """An ArgumentParser class whose instances (the subcommands, and theirs) all take ``--config`` too. Each gets
    its own action (argparse shares a parent's actions, and a subcommand with its own --config replaces it)."""

    class SubParser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("conflict_handler", "resolve")    # `finetune --config` keeps its own meaning
            super().__init__(*args, **kwargs)
            # SUPPRESS: a subcommand not given --config leaves the value from before the command alone.
            self.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)

        def add_subparsers(self, **kwargs):
            kwargs.setdefault("parser_class", SubParser)
            return super().add_subparsers(**kwargs)

    return SubParser


def cmd_models(args) -> int:
    from .core import load_classifier, without_business_calibration
    from .registry import Registry, evaluate
    from .store import Store

    cfg = _bot_config(args)
    registry = Registry(Store(cfg.db.url))
    if args.models_command == "list":
        for v in registry.versions():
            scores = v["scores"]
            print(f"{v['status']:9} {v['version']}  behaviour {scores.get('behaviour', float('nan')):.3f}  "
                  f"{v['created_at']:%Y-%m-%d %H:%M}  {v['path']}")
        return 0
    if args.models_command == "add":
        from finetune.data import load_labelled
        from finetune.config import DataConfig

        # scored with the model's own temperature: the registry compares models, not this config's calibration
        classifier = load_classifier(str(args.dir), without_business_calibration(cfg), _log)
        suites = {}
        for item in args.suite or []:
            name, _, path = item.partition("=")
            ds, names, _ = load_labelled(DataConfig(path=path, labels=classifier.labels))
            suites[name] = (list(ds["text"]), [names[i] for i in ds["label"]])
        scores = evaluate(classifier, suites)
        card = {k: classifier.meta.get(k) for k in ("data", "base", "metrics") if k in classifier.meta}
        report = Path(args.dir).resolve().parent / "retrain_report.md"     # a `feedbackbot retrain` run's report
        if report.is_file():
            card["report"] = str(report)
        registry.add(classifier.version, Path(args.dir).resolve(), classifier.labels, scores, card, serve=args.serve)
        print(f"added {classifier.version}: behaviour {scores['behaviour']:.3f}")
        return 0
    if args.models_command == "promote":
        for c in registry.promote(args.version, args.max_regression if args.max_regression is not None
                                  else cfg.models.max_regression, force=args.force):
            print(f"  {c.suite:30} {c.serving:.3f} -> {c.candidate:.3f} ({c.change:+.3f})")
        print(f"serving {args.version}; running bots switch within {cfg.models.poll_s:g} s")
        return 0
    print(f"serving {registry.rollback()} again")
    return 0


def cmd_retrain(args) -> int:
    from .model_source import resolve_model_dir
    from .registry import Registry
    from .retrain import retrain
    from .store import Store

    cfg = _bot_config(args)
    store = Store(cfg.db.url)
    serving = Registry(store).serving()
    model = args.model or (serving["path"] if serving else cfg.model.path)
    result = retrain(store, resolve_model_dir(model, _log), args.out, cfg, args.holdout_days, args.include_model,
                     args.epochs, _log)
    for name, (before, after) in result["suites"].items():
        print(f"  {name:32} {before:.3f} -> {after:.3f} ({after - before:+.3f})")
    print(f"candidate {result['candidate']} in {args.out}/model; report {result['report']}; next: "
          f"feedbackbot models add {args.out}/model && feedbackbot models promote {result['candidate']}")
    return 0


def cmd_drift(args) -> int:
    from .drift import measure
    from .model_source import resolve_model_dir
    from .registry import Registry
    from .store import Store
    from finetune.model_dir import read_meta

    cfg = _bot_config(args)
    store = Store(cfg.db.url)
    serving = Registry(store).serving()
    drift = measure(store, read_meta(resolve_model_dir(serving["path"] if serving else cfg.model.path, _log)),
                    args.days)
    print(f"{drift.messages} feedback messages in the last {args.days:g} days")
    for label in drift.label_mix:
        print(f"  {label:12} {drift.label_mix[label]:6.1%}   (model's data {drift.reference_mix.get(label, 0):6.1%})")
    if drift.confident_share is not None:
        print(f"  confident replies {drift.confident_share:.1%} (validation {drift.reference_confident_share or 0:.1%})")
    for warning in drift.warnings:
        print(f"WARNING: {warning}")
    return 1 if drift.warnings else 0


def build_parser() -> argparse.ArgumentParser:
    from .domain_calibration import CALIBRATORS

    parser = argparse.ArgumentParser(prog="feedbackbot", description=__doc__)
    config_help = "TOML config (default: $FEEDBACKBOT_CONFIG); before or after the command"
    parser.add_argument("--config", type=Path, default=None, help=config_help)
    # Every subcommand takes --config too: `feedbackbot serve --config f.toml`.
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_parser_with_config(config_help))

    def bot_options(p, model=True):
        if model:
            p.add_argument("--model", help="model dir, adapter dir, or 'default' (shipped model)")
        p.add_argument("--db", help="store URL (default: SQLite in the user data dir; or $FEEDBACKBOT_DB_URL)")

    serve = sub.add_parser("serve", help="browser chat + widget + JSON API")
    bot_options(serve)
    serve.add_argument("--templates", type=Path)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    chat = sub.add_parser("chat", help="chat with the bot in the terminal")
    bot_options(chat)
    chat.add_argument("--templates", type=Path)
    chat.set_defaults(handler=cmd_chat)

    classify = sub.add_parser("classify", help="score a CSV/JSONL file")
    classify.add_argument("file", type=Path)
    classify.add_argument("--out", type=Path, help="output .csv or .jsonl (default: FILE.classified.csv)")
    classify.add_argument("--model")
    classify.add_argument("--text-column")
    classify.add_argument("--encoding", default="utf-8")
    classify.add_argument("--batch-size", type=int)
    classify.set_defaults(handler=cmd_classify)

    cal = sub.add_parser("calibrate", help="fit the model's confidence to your own labelled messages")
    cal.add_argument("--data", type=Path, required=True,
                     help="CSV/JSONL with text and label columns, e.g. `feedbackbot export --labelled`")
    cal.add_argument("--model")
    cal.add_argument("--text-column")
    cal.add_argument("--label-column")
    cal.add_argument("--encoding", default="utf-8")
    cal.add_argument("--calibrator", choices=CALIBRATORS, default="auto",
                     help="auto (default): the richest one that predicts held-out messages better (log-loss) "
                          "than the simpler ones beyond chance")
    cal.set_defaults(handler=cmd_calibrate)

    templates = sub.add_parser("templates", help="response templates")
    tsub = templates.add_subparsers(dest="templates_command", required=True)
    check = tsub.add_parser("check", help="render every template with sample context")
    check.add_argument("--templates", type=Path, help="template directory (default: packaged)")
    check.add_argument("--model")
    check.add_argument("--labels", help="comma list (default: the model's labels)")
    check.set_defaults(handler=cmd_templates_check)

    exp = sub.add_parser("export", help="write stored feedback to CSV/JSONL")
    exp.add_argument("--out", type=Path, required=True)
    exp.add_argument("--labelled", action="store_true",
                     help="text,label,source rows of labels people gave (operator > customer): input for finetune")
    exp.add_argument("--include-model", action="store_true",
                     help="with --labelled: add the model's confident predictions (source 'model')")
    exp.add_argument("--min-confidence", type=float,
                     help="with --include-model: this calibrated confidence instead of the policy's high band")
    bot_options(exp, model=False)
    exp.set_defaults(handler=cmd_export)

    models = sub.add_parser("models", help="the model registry: list, add, promote, rollback (hot reload)")
    msub = models.add_subparsers(dest="models_command", required=True)
    lst = msub.add_parser("list", help="registered versions, their state and scores")
    add = msub.add_parser("add", help="register a model or adapter directory and score it on the held-out suites")
    add.add_argument("dir", type=Path)
    add.add_argument("--suite", action="append", help="NAME=FILE: one more held-out labelled file to score")
    add.add_argument("--serve", action="store_true", help="serve it now (skips the regression check)")
    pro = msub.add_parser("promote", help="serve VERSION (refused if worse on a suite, unless --force)")
    pro.add_argument("version")
    pro.add_argument("--force", action="store_true")
    pro.add_argument("--max-regression", type=float)
    rb = msub.add_parser("rollback", help="serve the previous version again")
    for p in (lst, add, pro, rb):
        bot_options(p, model=False)
        p.set_defaults(handler=cmd_models)

    rt = sub.add_parser("retrain", help="fine-tune the next model on the stored labels; compare with the serving one")
    rt.add_argument("--out", type=Path, default=Path("runs/retrain"))
    rt.add_argument("--model", help="the model to start from (default: the registry's serving version, else --model)")
    rt.add_argument("--holdout-days", type=float, default=7.0, help="newest human labels held out by time")
    rt.add_argument("--include-model", action="store_true", help="also train on the model's confident predictions")
    rt.add_argument("--epochs", type=int, help="override the recipe's epochs")
    bot_options(rt, model=False)
    rt.set_defaults(handler=cmd_retrain)

    dr = sub.add_parser("drift", help="label mix and confidence of recent feedback vs the model's data (exit 1: drift)")
    dr.add_argument("--days", type=float, default=7.0)
    bot_options(dr, model=True)
    dr.set_defaults(handler=cmd_drift)

    operators = sub.add_parser("operators", help="operator console accounts")
    osub = operators.add_subparsers(dest="operators_command", required=True)
    oadd = osub.add_parser("add", help="add an operator (password asked for, or the first line of stdin)")
    oadd.add_argument("name")
    oadd.add_argument("--role", choices=["viewer", "agent"], default="viewer",
                     help="viewer: read-only; agent: also relabel, close/reopen tickets, export")
    rm = osub.add_parser("remove", help="remove an operator (ends their sessions)")
    rm.add_argument("name")
    ls = osub.add_parser("list", help="list operators")
    for p in (oadd, rm, ls):
        bot_options(p, model=False)
        p.set_defaults(handler=cmd_operators)
    purge = sub.add_parser("purge", help="delete conversations idle longer than [store] retain_days")
    purge.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    purge.add_argument("--by", help="who runs it, for the audit log (default: cli:<login name>)")
    bot_options(purge, model=False)
    purge.set_defaults(handler=cmd_purge)

    erase = sub.add_parser("erase", help="delete one customer's conversation everywhere (audit-logged)")
    which = erase.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", help="the conversation_id shown in exports, or the customer's secret session id")
    which.add_argument("--conversation", help="the conversation_id exactly as shown in exports")
    erase.add_argument("--by", help="who asks for it, for the audit log (default: cli:<login name>)")
    bot_options(erase, model=False)
    erase.set_defaults(handler=cmd_erase)

    finetune_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    from finetune.base import BaseModelError
    from finetune.data import DataError
    from finetune.merge import MergeVerificationError
    from finetune.model_dir import ModelDirError
    from finetune.sweep import SweepError
    from finetune.train import ResumeError

    from .render import TemplateSetError
    from .store import StoreError

    from .domain_calibration import CalibrationDataError
    from .retrain import RetrainError

    known = (CalibrationDataError, RetrainError, ConfigError, DataError, BaseModelError, ModelDirError, MergeVerificationError, ResumeError, SweepError,
             TemplateSetError, StoreError, ValueError, FileNotFoundError, ArithmeticError)
    try:
        return args.handler(args)
    except known as exc:
        print(f"feedbackbot {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
