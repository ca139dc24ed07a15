"""The `feedbackbot` command: bot channels and tools, plus the finetune commands."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
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
    uvicorn.run(create_app(bot, cfg.server), host=cfg.server.host, port=cfg.server.port, log_level="info")
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
    for line in renderer.check(labels):
        print(line)
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


def build_parser() -> argparse.ArgumentParser:
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

    known = (ConfigError, DataError, BaseModelError, ModelDirError, MergeVerificationError, ResumeError, SweepError,
             TemplateSetError, StoreError, ValueError, FileNotFoundError)
    try:
        return args.handler(args)
    except known as exc:
        print(f"feedbackbot {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
