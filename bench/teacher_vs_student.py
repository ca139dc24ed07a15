"""Teacher vs student, part by part, on the validation parts the teacher reads (issue #18: "the student within 2
points on average").

    python bench/teacher_vs_student.py --teacher runs/teacher-mpnet-en/model [--student default] \
        [--parts airline_tweets,tweets_all,behaviour_en] [--teacher-backend torch]

The teacher (an MPNet, which has no ONNX path in the bot: read through torch) is read on the named parts exactly
as bench/compare_candidates.py reads a candidate; the student's predictions are that script's kept file for it
(read once on its served backend, onnx-int8). A paired bootstrap of the mean of the parts' primary metrics (the
same draw for both models) says whether the teacher leads beyond chance. The default parts are the English ones the
English teacher was trained for; IMDb is left out because the teacher recipe leaves reviews out (their chunks cost
more than its 90-minute budget) and writes no soft labels for them.

Writes ``teacher_vs_student-<teacher>-vs-<student>.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import model_name, primary_metric  # noqa: E402
from benchkit import write_results  # noqa: E402
from compare_candidates import _cached, add_reading_options, interval_verdict, paired_difference, read_model  # noqa: E402

ENGLISH_PARTS = ("airline_tweets", "tweets_all", "behaviour_en")
TARGET_POINTS = 0.02        # issue #18: the student within 2 points of the teacher on average


def score(part: dict) -> float:
    """A part's primary metric (macro-F1 for three classes; accuracy for a binary set and for the suite's
    right/wrong record)."""
    import numpy as np

    return float(primary_metric(np.asarray(part["y"]), np.asarray(part["pred"]), part["classes"]))


def read_teacher(args, parts: tuple[str, ...]) -> dict:
    """The teacher's predictions on ``parts``: kept in ``<out>/teacher-predictions-<name>.json`` and reused while the
    model (its version), the parts, the backend and the limits are the same."""
    import json

    from bot.classifier import model_version
    from bot.model_source import resolve_model_dir

    path = args.out / f"teacher-predictions-{model_name(args.teacher)}.json"
    key = {"parts_read": list(parts), "backend": args.teacher_backend, "imdb_limit": args.imdb_limit,
           "limit": args.limit}
    if path.is_file():
        kept = json.loads(path.read_text())
        if {k: kept.get(k) for k in key} == key and kept.get("version") == model_version(resolve_model_dir(args.teacher)):
            return kept
    read = {**read_model(args.teacher, args.teacher_backend, args.imdb_limit or None, args.limit, only=parts), **key}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(read))
    return read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--student", default="default")
    ap.add_argument("--parts", default=",".join(ENGLISH_PARTS), help="comma list of validation parts")
    ap.add_argument("--teacher-backend", default="torch")
    add_reading_options(ap)         # how the student is read (its kept predictions are reused)
    args = ap.parse_args()
    parts = tuple(p for p in args.parts.split(",") if p)
    student = _cached(args.student, args)
    unknown = [p for p in parts if p not in student["parts"]]
    if unknown:
        raise SystemExit(f"unknown parts {unknown}; the validation parts are {sorted(student['parts'])}")
    teacher = read_teacher(args, parts)
    result = paired_difference(teacher["parts"], {p: student["parts"][p] for p in parts}, args.rounds)
    scores = {name: {"teacher": score(teacher["parts"][name]), "student": score(student["parts"][name])}
              for name in parts}
    low, high = result["interval"]
    gap = result["difference"]
    within = gap <= TARGET_POINTS
    report = {"teacher": teacher["version"], "teacher_backend": args.teacher_backend, "student": student["version"],
              "student_backend": args.backend, "parts": list(parts), "scores": scores, **result,
              "verdict": interval_verdict(result["interval"]), "student_within_2_points": within,
              "command": " ".join(["python bench/teacher_vs_student.py", *sys.argv[1:]])}
    rows = "\n".join(f"| {name} | {scores[name]['teacher']:.3f} | {scores[name]['student']:.3f} | {d:+.3f} |"
                     for name, d in result["per_part"].items())
    markdown = (f"# Teacher vs student on validation: `{teacher['version']}` ({args.teacher_backend}) vs "
                f"`{student['version']}` ({args.backend})\n\n"
                f"`{report['command']}`: the mean of the parts' primary metrics (macro-F1 for three classes, accuracy "
                f"for the suite), teacher minus student, with a paired bootstrap ({args.rounds} rounds, seeded).\n\n"
                f"Teacher - student: **{gap:+.4f}**, 95% interval {low:+.4f} to {high:+.4f} "
                f"({report['verdict']}). The student is {'within' if within else 'NOT within'} 2 points of the "
                f"teacher on average.\n\n| part | teacher | student | teacher - student |\n|---|---|---|---|\n{rows}\n")
    write_results(args.out, f"teacher_vs_student-{model_name(args.teacher)}-vs-{student['name']}", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
