"""Blends of trained LoRA adapters, built without training, to test whether weight space holds a better model.

    python bench/adapter_blends.py scale bot/default_model 0.75 --out /tmp/blend-0.75
    python bench/adapter_blends.py soup bot/default_model OTHER_ADAPTER 0.5 --out /tmp/soup
    python bench/accuracy.py --part validation --model /tmp/blend-0.75 --imdb-limit 1000 --limit 1000

Two ideas from the fine-tuning literature, both aimed at what our model does worst, the languages it has no
training data in (German/French/Dutch reviews are read by transfer):

- ``scale``: keep a fraction ``alpha`` of the fine-tuning update (every LoRA ``B`` times alpha; the head as trained).
  WiSE-FT (Wortsman et al. 2022) found that stopping part of the way from the pretrained weights to the fine-tuned
  ones keeps more of what pretraining knew, which is where cross-lingual transfer comes from.
- ``soup``: a weighted average of two fine-tunes of the same base from the same seed ("model soups", Wortsman et
  al. 2022), which often reads unseen distributions better than either. Two LoRA updates average exactly by
  concatenating their ranks: ``w*B1A1 + (1-w)*B2A2 = [w*B1, (1-w)*B2] @ [A1; A2]`` (rank and alpha doubled, so
  PEFT's alpha/rank scaling stays the same); the trained head (``modules_to_save``) is averaged.

The output is an adapter directory; ``bench/accuracy.py --model DIR`` merges it like any adapter and scores it on
validation. Its feedbackbot.json (labels, temperature, thresholds) is the first adapter's, fitted for that model,
not refitted for the blend: accuracy is the blend's own, ECE reads it through another model's temperature. The
results (README, "Benchmarks") are why neither ships.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"


def _copy(src: Path, out: Path) -> None:
    if out.exists():
        raise FileExistsError(f"{out} exists; pick a new --out")
    shutil.copytree(src, out)


def scale_update(adapter: Path, alpha: float, out: Path) -> Path:
    """``adapter`` with its LoRA update scaled by ``alpha`` (0 = the base encoder, 1 = as trained)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    tensors = load_file(str(adapter / WEIGHTS))
    _copy(adapter, out)
    save_file({k: v * alpha if ".lora_B." in k else v for k, v in tensors.items()}, str(out / WEIGHTS),
              metadata={"format": "pt"})
    return out


def soup(first: Path, second: Path, weight: float, out: Path) -> Path:
    """``weight`` x ``first``'s update + (1 - weight) x ``second``'s, heads averaged alike."""
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    a, b = load_file(str(first / WEIGHTS)), load_file(str(second / WEIGHTS))
    ca, cb = (json.loads((d / CONFIG).read_text()) for d in (first, second))
    same = ("r", "lora_alpha", "peft_type", "task_type", "use_rslora", "use_dora")
    if set(a) != set(b) or any(ca.get(k) != cb.get(k) for k in same) or \
            set(ca["target_modules"]) != set(cb["target_modules"]):
        raise ValueError("the two adapters differ in their modules or LoRA settings; only twins of one recipe soup")
    # Doubling r and lora_alpha keeps PEFT's alpha/r scaling only for plain LoRA: per-module ranks or alphas would
    # need doubling too, rsLoRA scales by alpha/sqrt(r), DoRA's magnitudes do not average linearly, and LoRA biases
    # are not factors to concatenate.
    if ca.get("rank_pattern") or ca.get("alpha_pattern") or ca.get("use_rslora") or ca.get("use_dora") \
            or ca.get("lora_bias"):
        raise ValueError("only plain LoRA adapters soup exactly (no rank/alpha patterns, rsLoRA, DoRA or LoRA bias)")
    blended = {}
    for key, ta in a.items():
        if ".lora_A." in key:
            blended[key] = torch.cat([ta, b[key]], 0)
        elif ".lora_B." in key:
            blended[key] = torch.cat([weight * ta, (1 - weight) * b[key]], 1)
        else:
            blended[key] = weight * ta + (1 - weight) * b[key]
    _copy(first, out)
    save_file(blended, str(out / WEIGHTS), metadata={"format": "pt"})
    ca.update(r=2 * ca["r"], lora_alpha=2 * ca["lora_alpha"])
    (out / CONFIG).write_text(json.dumps(ca, indent=2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="how", required=True)
    s = sub.add_parser("scale")
    s.add_argument("adapter", type=Path)
    s.add_argument("alpha", type=float)
    p = sub.add_parser("soup")
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument("weight", type=float)
    for parser in (s, p):
        parser.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    out = (scale_update(args.adapter, args.alpha, args.out) if args.how == "scale"
           else soup(args.first, args.second, args.weight, args.out))
    print(f"{out}: score it with  python bench/accuracy.py --part validation --model {out}")


if __name__ == "__main__":
    main()
