"""Agent figures on the annotation-derived question set, with the embedded LLM (or the configured one).

Run: .venv/bin/python benchmarks/agent_questions.py [--per-type 3] [--limit N] [--out reports/agent-bench]
Prints: program validity rate (goal 100 % with the grammar), planning latency (goal <= 3 s for a
typical 4-line program), accuracy per question type, LLM calls per question, and orchestration
overhead = end-to-end minus LLM and model time (goal <= 2 % of end-to-end).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from visorch.agent import Agent
from visorch.evaluation.answers import exact_match
from visorch.evaluation.questions import Question, load_questions


def _subset(questions: list[Question], per_type: int | None, limit: int | None) -> list[Question]:
    if per_type is not None:
        taken: dict[str, int] = defaultdict(int)
        chosen = []
        for question in questions:
            if taken[question.type] < per_type:
                taken[question.type] += 1
                chosen.append(question)
        questions = chosen
    return questions[:limit] if limit is not None else questions


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-type", type=int, default=None, help="at most this many questions of each type")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("reports/agent-bench"))
    arguments = parser.parse_args()

    questions = _subset(load_questions(), arguments.per_type, arguments.limit)
    arguments.out.mkdir(parents=True, exist_ok=True)
    records = []
    with Agent() as agent:
        warm = time.perf_counter()
        agent.ask(image=questions[0].image_path, question="How many people are in the image?")
        print(f"warm-up (loads the LLM, embeddings and tools): {time.perf_counter() - warm:.1f} s")
        for number, question in enumerate(questions, 1):
            planned, invalid = [], 0
            answer = None
            started = time.perf_counter()
            try:
                events = agent.stream(image=question.image_path, question=question.question, audio=question.audio_path)
                for event in events:
                    if event.event == "planned":
                        planned.append((event.data["llm_seconds"], event.data["program"].count("\n") + 1))
                    elif event.event == "invalid":
                        invalid += 1
                    elif event.answer is not None:
                        answer = event.answer
                error = None
            except Exception as failure:  # recorded per question; the benchmark goes on
                error = f"{type(failure).__name__}: {failure}"
            text = answer.text if answer else ""
            correct = answer is not None and exact_match(text, question.answer, question.answer_type)
            record = {
                "id": question.id,
                "type": question.type,
                "question": question.question,
                "expected": question.answer,
                "answer": text,
                "correct": correct,
                "error": error,
                "planned": planned,
                "invalid": invalid,
                "programs": [p.source for p in answer.programs] if answer else [],
                "stop_reason": answer.stop_reason if answer else None,
                "timings": answer.timings.model_dump() if answer else None,
                "wall_s": time.perf_counter() - started,
            }
            records.append(record)
            mark = "ok " if correct else "BAD"
            shown = repr(text[:40])
            print(f"[{number}/{len(questions)}] {mark} {question.type:18s} {shown:42s} expected {question.answer!r}")

    (arguments.out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    plans = [p for r in records for p in r["planned"]]
    invalid = sum(r["invalid"] for r in records)
    latencies = [seconds for seconds, _ in plans]
    four_lines = [seconds for seconds, lines in plans if lines == 4]
    timed = [r["timings"] for r in records if r["timings"]]
    total = sum(t["total_s"] for t in timed)
    overhead = sum(t["orchestration_s"] for t in timed)
    print(f"\nquestions: {len(records)}; errors: {sum(1 for r in records if r['error'])}")
    print(f"program validity: {len(plans) - invalid}/{len(plans)} planned programs valid "
          f"({100 * (len(plans) - invalid) / max(1, len(plans)):.1f} %)  (goal: 100 %)")  # fmt: skip
    print(f"planning latency: median {statistics.median(latencies):.1f} s, p90 {_percentile(latencies, 0.9):.1f} s"
          + (f"; 4-line programs median {statistics.median(four_lines):.1f} s (n={len(four_lines)})"
             if four_lines else "")
          + "  (goal: <= 3 s for a 4-line program)")  # fmt: skip
    print("accuracy per question type:")
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_type[r["type"]].append(r["correct"])
    for kind, results in sorted(by_type.items()):
        print(f"  {kind:20s} {sum(results):3d}/{len(results):3d}  {100 * sum(results) / len(results):5.1f} %")
    overall = sum(r["correct"] for r in records)
    print(f"  {'all':20s} {overall:3d}/{len(records):3d}  {100 * overall / len(records):5.1f} %")
    calls = [t["llm_calls"] for t in timed]
    print(f"LLM calls per question: mean {statistics.mean(calls):.2f}, max {max(calls)}")
    print(f"time: {total:.0f} s end-to-end; LLM {sum(t['llm_s'] for t in timed):.0f} s; "
          f"tools {sum(t['model_s'] for t in timed):.0f} s")  # fmt: skip
    print(f"orchestration overhead: {overhead:.2f} s = {100 * overhead / total:.2f} % of end-to-end  (goal: <= 2 %)")
    print(f"per-question results: {arguments.out / 'results.jsonl'}")


if __name__ == "__main__":
    main()
