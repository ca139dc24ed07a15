"""Where feedbackbot keeps generated files (converted base weights, merged default model, data), and how a file is
fingerprinted."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs


def cache_root() -> Path:
    """User cache directory; ``FEEDBACKBOT_CACHE_DIR`` overrides it (tests, containers)."""
    root = os.environ.get("FEEDBACKBOT_CACHE_DIR") or platformdirs.user_cache_dir("feedbackbot")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (weights and data files are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
