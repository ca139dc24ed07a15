"""Report plots (matplotlib PNG): confusion matrix, training history, reliability diagram."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion(matrix: list[list[int]], labels: list[str], path: Path, title: str = "Confusion matrix") -> Path:
    cm = np.asarray(matrix)
    size = 1.2 + 0.9 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    high = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > high else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_history(history: list[dict], path: Path) -> Path:
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    ax1.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation loss")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax2.plot(epochs, [h["val_accuracy"] for h in history], "o-", label="validation accuracy")
    ax2.plot(epochs, [h["val_macro_f1"] for h in history], "o-", label="validation macro-F1")
    ax2.set_xlabel("epoch")
    ax2.legend()
    fig.suptitle("Training history")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(before: dict, after: dict, ece_before: float, ece_after: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for rel, name, ece in ((before, "before", ece_before), (after, "after temperature", ece_after)):
        pts = [(b["confidence"], b["accuracy"]) for b in rel["bins"] if b["count"]]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "o-", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability diagram (validation)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(value) -> str:
    """Compact grid value for a plot label: file lists by name, tables as k=v."""
    if isinstance(value, list):
        return "+".join(Path(str(v)).stem for v in value) or "none"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def plot_sweep(rows: list[dict], best: str, metric: str, path: Path) -> Path:
    """Validation score per sweep trial (failed trials shown empty, values written on the bars), winner highlighted."""
    scores = [r.get("score", 0.0) for r in rows]
    labels = [f"{r['name']}  " + "  ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in r["overrides"].items())
              for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(rows) + 1.5))
    colors = ["tab:orange" if r["name"] == best else "tab:blue" for r in rows]
    ax.barh(range(len(rows)), scores, color=colors)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    done = [s for r, s in zip(rows, scores) if r["status"] == "done"]
    low, high = min(done), max(done)
    ax.set_xlim(max(0.0, low - 0.02), min(1.0, high + 0.02))
    for i, (r, s) in enumerate(zip(rows, scores)):
        ax.text(s, i, f" {s:.4f}" if r["status"] == "done" else " failed", va="center", fontsize=8)
    ax.set_xlabel(f"validation {metric}")
    ax.set_title(f"Sweep: {best} wins on validation {metric}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
