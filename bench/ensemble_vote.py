"""Would a teacher made of our own candidates help? The majority vote of trained models, on validation.

    python bench/ensemble_vote.py --members runs/multilingual-aug5/model runs/multilingual-aug5-seed7/model \
        runs/multilingual-aug4/model [--baseline runs/multilingual-aug5/model]

Issue #18's teacher is all-mpnet-base-v2 fine-tuned on a GPU, whose soft labels `feedbackbot distill` trains the
served student from. Where no GPU is lent, the one teacher this 2-core machine can afford is an ensemble of students
it has already trained (the candidate recipes in finetune/recipes/). Distilling an ensemble only helps where the
ensemble itself reads better than the student it would replace, so this script measures that first, at no training
cost: each member's per-message validation predictions (kept by bench/compare_candidates.py, read there once if
missing), a vote per message (the label most members give; a tie keeps the first member's label, so the first member
should be the baseline), and the paired bootstrap of the selection score against the baseline, as for any candidate.

The behaviour validation suite's kept predictions are right/wrong only, so its messages (124) are read again here
from every member to vote on labels. A hard vote stands in for the mean of the members' probabilities (what soft
labels would be); with three to five members they differ only where the members split.
Writes ``ensemble-vote-<members>.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import VALIDATION_SUITE, english_and_other, model_name, served_classifier  # noqa: E402
from benchkit import write_results  # noqa: E402
from compare_candidates import (SUITE_PARTS, _cached, add_reading_options, interval_verdict,  # noqa: E402
                                paired_difference)


def vote(predictions: list[list[int]]) -> list[int]:
    """Per message, the label most members give; where several labels tie for most, the first member's label."""
    table = np.asarray(predictions)
    if table.ndim != 2 or table.shape[0] < 2:
        raise ValueError("a vote needs the predictions of two or more members, one row each")
    out = []
    for column in table.T:
        counts = np.bincount(column)
        top = np.flatnonzero(counts == counts.max())
        out.append(int(column[0]) if top.size > 1 else int(top[0]))
    return out


def suite_labels(spec: str, backend: str) -> dict[str, tuple[list[str], list[str]]]:
    """{suite part: (truth labels, the model's labels)} on the behaviour validation suite."""
    from bot.model_source import resolve_model_dir
    from finetune.behaviour import load_suite

    clf = served_classifier(resolve_model_dir(spec), backend)
    out = {}
    for part, chosen in zip(SUITE_PARTS, english_and_other(load_suite(VALIDATION_SUITE))):
        out[part] = ([c.label for c in chosen], [p.label for p in clf.predict([c.text for c in chosen])])
    return out


def ensemble_parts(members: list[dict], suites: list[dict]) -> dict:
    """The vote's parts, in compare_candidates' form: the sets voted on the kept predictions, the suite's parts
    voted on labels and stored as right (1) / wrong (0) against a truth of all ones."""
    first = members[0]["parts"]
    parts = {}
    for name, part in first.items():
        if name in SUITE_PARTS:
            truth = suites[0][name][0]
            labels = sorted({label for s in suites for label in s[name][1]} | set(truth))
            voted = vote([[labels.index(label) for label in s[name][1]] for s in suites])
            parts[name] = {"classes": 2, "y": [1] * len(truth),
                           "pred": [int(labels[v] == t) for v, t in zip(voted, truth)]}
            continue
        if any(m["parts"][name]["y"] != part["y"] for m in members):
            raise ValueError(f"{name}: the members were read on different messages")
        parts[name] = {**part, "pred": vote([m["parts"][name]["pred"] for m in members])}
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", nargs="+", required=True, help="model directories; the first breaks ties")
    ap.add_argument("--baseline", default=None, help="default: the first member")
    add_reading_options(ap)
    args = ap.parse_args()
    if len(args.members) < 2:
        raise SystemExit("--members: give two or more model directories")
    baseline_spec = args.baseline or args.members[0]
    members = [_cached(spec, args) for spec in args.members]
    baseline = _cached(baseline_spec, args)
    suites = [suite_labels(spec, args.backend) for spec in args.members]
    parts = ensemble_parts(members, suites)
    result = paired_difference(parts, baseline["parts"], args.rounds)
    # how often the members split: the messages where a vote can differ from its first member at all
    split = {name: float(np.mean(np.asarray([m["parts"][name]["pred"] for m in members]).std(axis=0) > 0))
             for name in members[0]["parts"] if name not in SUITE_PARTS}
    low, high = result["interval"]
    verdict = interval_verdict(result["interval"])
    names = [model_name(spec) for spec in args.members]
    report = {"members": names, "baseline": model_name(baseline_spec), **result, "verdict": verdict,
              "members_split": split,
              "command": " ".join(["python bench/ensemble_vote.py", *sys.argv[1:]])}
    rows = "\n".join(f"| {name} | {d:+.3f} | {split[name]:.1%} |" if name in split else f"| {name} | {d:+.3f} | |"
                     for name, d in result["per_part"].items())
    markdown = (f"# The vote of {len(names)} trained models vs `{report['baseline']}` on validation\n\n"
                f"`{report['command']}`. Members: {', '.join(f'`{n}`' for n in names)} (ties keep the first member's "
                f"label). A paired bootstrap ({args.rounds} rounds, seeded) of the selection score's difference.\n\n"
                f"Selection score difference (vote - baseline): **{result['difference']:+.4f}**, 95% interval "
                f"{low:+.4f} to {high:+.4f}; ahead in {result['share_of_rounds_ahead']:.0%} of the rounds. "
                f"Verdict: **{verdict}**.\n\n| part | difference | messages the members split on |\n|---|---|---|\n"
                f"{rows}\n")
    write_results(args.out, "ensemble-vote-" + "+".join(n.removeprefix("multilingual-") for n in names), report,
                  markdown)
    print(markdown)


if __name__ == "__main__":
    main()
