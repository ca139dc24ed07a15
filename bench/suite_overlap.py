"""How much the behaviour TEST suite's score owes to phrasing the training generator shares with it.

    python bench/suite_overlap.py [--model default] [--backend onnx-int8] [--augment-version 2]

The generator (finetune/augment.py) shares no sentence and none of its praise/complaint words with the suite, but
some common word 3-grams ("what time does", "is there a", "can I leave") occur in both. This scores the suite twice
on the served model: every case, and only the cases that share no word 3-gram with the 5,000 generated examples a recipe draws, per
capability. A capability whose score drops on the clean cases was partly measuring memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchkit import write_results  # noqa: E402


def main() -> None:
    from bot.classifier import Classifier
    from bot.model_source import resolve_model_dir
    from finetune.augment import generate
    from finetune.behaviour import load_suite, score_suite, word_trigrams

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--augment-version", type=int, default=2)
    ap.add_argument("--generated", type=int, default=5000)   # what the recipes draw
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    suite = load_suite()
    made = set().union(*(word_trigrams(e.text) for e in generate(args.generated, seed=42, version=args.augment_version)))
    clean = [c for c in suite if not word_trigrams(c.text) & made]
    clf = Classifier(resolve_model_dir(args.model), max_length=128, batch_size=8, backend=args.backend)

    def predict(texts):
        return [p.label for p in clf.predict(texts)]

    every, only_clean = score_suite(predict, suite), score_suite(predict, clean)
    report = {"model_version": clf.version, "augment_version": args.augment_version, "cases": len(suite),
              "clean_cases": len(clean), "every_case": every, "clean_only": only_clean}
    rows = "\n".join(
        f"| {cap} | {every['by_capability'][cap]['n']} | {every['by_capability'][cap]['accuracy']:.3f} | "
        f"{only_clean['by_capability'].get(cap, {}).get('n', 0)} | "
        f"{only_clean['by_capability'].get(cap, {}).get('accuracy', float('nan')):.3f} |"
        for cap in sorted(every["by_capability"]))
    markdown = (f"# Behaviour test suite: every case vs cases sharing no word 3-gram with augment version "
                f"{args.augment_version}\n\nModel `{clf.version}`, backend {args.backend}; {len(suite) - len(clean)} "
                f"of {len(suite)} cases share a 3-gram with {args.generated} generated examples.\n\n"
                f"| capability | n | accuracy | n clean | accuracy clean |\n|---|---|---|---|---|\n{rows}\n"
                f"| **all** | {every['n']} | {every['accuracy']:.3f} | {only_clean['n']} | "
                f"{only_clean['accuracy']:.3f} |\n")
    write_results(args.out, f"suite_overlap-v{args.augment_version}", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
