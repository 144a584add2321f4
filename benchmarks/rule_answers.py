"""How often rule answers apply, and how often they are right, per score bar: no LLM involved.

Run: .venv/bin/python benchmarks/rule_answers.py [--data ../shared/data/coco-val] [--per-type 36]

For every counting and ``exists`` question built from the COCO annotations (val2017 by default,
which the detectors never saw), the canonical program runs (LOC, COUNT, and EVAL for yes/no). For
each ``rule_min_score`` bar it prints the share of questions the rule answers (the rest go to the
LLM decision-maker) and the accuracy of those rule answers, next to the program's accuracy on the
questions left to the LLM: a bar is worth having when the rule's answers are at least as accurate
as the program's answers overall.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from visorch.evaluation.answers import exact_match
from visorch.evaluation.build_questions import count_questions, exists_questions
from visorch.evaluation.coco import open_coco
from visorch.evaluation.paths import default_data_root
from visorch.roles.rules import rule_answer
from visorch.runtime import Runtime
from visorch.tools.types import format_number
from visorch.tools.vocabulary import singular

BARS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
COUNT = "BOX0=LOC(image=IMAGE, object='{0}')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
EXISTS = (
    "BOX0=LOC(image=IMAGE, object='{0}')\nANSWER0=COUNT(box=BOX0)\n"
    "ANSWER1=EVAL(expr=\"'yes' if ANSWER0 > 0 else 'no'\")\nFINAL=RESULT(var=ANSWER1)"
)


def _object(question: str) -> str:
    words = question.rstrip("?").split()
    if question.startswith("How many"):
        return singular(" ".join(words[2 : words.index("are")]))
    return " ".join(words[3 : words.index("in")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=default_data_root() / "coco-val")
    parser.add_argument("--per-type", type=int, default=36)
    arguments = parser.parse_args()
    root = arguments.data.parent
    dataset = open_coco(arguments.data)
    rng = random.Random(0)
    questions = count_questions(dataset, root, rng, arguments.per_type) + exists_questions(
        dataset, root, rng, arguments.per_type
    )
    runtime = Runtime.create()
    rows = []
    for question in questions:
        template = COUNT if question.type == "count" else EXISTS
        trace = runtime.run_program(
            template.format(_object(question.question)), runtime.load_inputs({"IMAGE": root / question.image})
        )
        result = "" if not trace.ok else trace.result if isinstance(trace.result, str) else format_number(trace.result)
        rows.append((question, trace, exact_match(result, question.answer, question.answer_type)))
    runtime.close()
    print(f"{len(rows)} questions from {arguments.data} ({sum(q.type == 'count' for q, _, _ in rows)} count, "
          f"{sum(q.type == 'exists' for q, _, _ in rows)} exists)")  # fmt: skip
    for kind in ("count", "exists"):
        kept = [(trace, right, q) for q, trace, right in rows if q.type == kind]
        overall = sum(right for _, right, _ in kept)
        print(f"\n{kind}: the program alone is right on {overall}/{len(kept)} ({100 * overall / len(kept):.0f} %)")
        print(f"  {'bar':>5s} {'by rule':>9s} {'rule right':>11s} {'left to the LLM':>16s}"
              f" {'program right there':>20s}")  # fmt: skip
        for bar in BARS:
            ruled = [(right, q, rule_answer(q.question, trace, bar)) for trace, right, q in kept]
            taken = [(q, answer) for _, q, answer in ruled if answer is not None]
            taken_right = sum(exact_match(a.answer, q.answer, q.answer_type) for q, a in taken)
            left = [right for right, _, answer in ruled if answer is None]
            share = f"{taken_right}/{len(taken)}" + (f" {100 * taken_right / len(taken):3.0f}%" if taken else "")
            print(f"  {bar:5.2f} {len(taken):4d}/{len(kept):<4d} {share:>11s} {len(left):16d} "
                  f"{sum(left):>14d}/{len(left):<5d}")  # fmt: skip


if __name__ == "__main__":
    main()
