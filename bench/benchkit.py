"""What every benchmark script shares: percentiles and writing results (JSON + markdown) to bench/results/."""

from __future__ import annotations

import json
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by rank, NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def write_results(out_dir: Path, name: str, report: dict, markdown: str) -> Path:
    """Write ``<name>.json`` and ``<name>.md`` into ``out_dir``; returns the markdown path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2, default=float))
    (out_dir / f"{name}.md").write_text(markdown)
    return out_dir / f"{name}.md"
