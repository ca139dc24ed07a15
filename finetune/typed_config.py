"""Typed configuration: dataclasses filled from one TOML file, then environment overrides.

Precedence (lowest to highest): dataclass defaults < TOML file < ``FEEDBACKBOT_<SECTION>_<FIELD>`` environment
variables < explicit CLI flags (applied by the caller with :func:`dataclasses.replace`).
Nested dataclasses map to TOML tables; the env name joins the path with ``_`` and upper-cases it,
e.g. ``[policy] high_confidence`` -> ``FEEDBACKBOT_POLICY_HIGH_CONFIDENCE``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {hint}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return build(hint, value, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            result = hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from None
        if hint is int and isinstance(value, float) and value != result:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return result
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is Path:
        return Path(os.path.expanduser(str(value)))
    if origin in (list, tuple):
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return {str(k): _coerce(v, args[1] if args else Any, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {args}, got {value!r}")
        return value
    return value


def build(cls: type[T], table: dict[str, Any] | None = None, where: str = "") -> T:
    """Build dataclass ``cls`` from a (TOML) table, rejecting unknown keys."""
    table = dict(table or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in table:
            kwargs[field.name] = _coerce(table[field.name], hints[field.name], f"{where}.{field.name}".lstrip("."))
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def _env_overrides(cls: type, prefix: str, env: typing.Mapping[str, str]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    found: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        name = f"{prefix}_{field.name}".upper()
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            nested = _env_overrides(hint, name, env)
            if nested:
                found[field.name] = nested
        elif name in env:
            found[field.name] = env[name]
    return found


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load(cls: type[T], path: Path | None = None, env: typing.Mapping[str, str] | None = None,
         prefix: str = "FEEDBACKBOT", section: str | None = None, ignore: tuple[str, ...] = ("finetune",)) -> T:
    """Load ``cls`` from TOML file ``path`` (optionally only its ``[section]``) with env overrides.

    With a ``section``, env names carry it too: ``FEEDBACKBOT_FINETUNE_TRAIN_EPOCHS``.
    Top-level tables named in ``ignore`` belong to another component sharing the file and are skipped.
    """
    env = os.environ if env is None else env
    table: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        if section is not None:
            table = table.get(section, {})
        else:
            table = {k: v for k, v in table.items() if k not in ignore}
    env_prefix = f"{prefix}_{section}" if section else prefix
    return build(cls, _merge(table, _env_overrides(cls, env_prefix, env)), where=section or "")
