"""Where feedbackbot keeps generated files (converted base weights, merged default model, data)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_root() -> Path:
    """User cache directory; ``FEEDBACKBOT_CACHE_DIR`` overrides it (tests, containers)."""
    root = os.environ.get("FEEDBACKBOT_CACHE_DIR") or platformdirs.user_cache_dir("feedbackbot")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
