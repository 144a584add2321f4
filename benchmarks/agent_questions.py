"""Agent figures on a fixed question mix, with the embedded LLM (or the configured one), before vs after.

Run: .venv/bin/python benchmarks/agent_questions.py [--qa-per-type 1] [--coco-val-per-type 4]
         [--agent key=value ...] [--save /tmp/agent-before.json] [--compare /tmp/agent-before.json] [--cold]

The mix: the first ``--qa-per-type`` questions of each type of the bundled qa set, plus
``--coco-val-per-type`` counting and ``exists`` questions built from ../shared/data/coco-val's
annotations (COCO val2017, which the detectors never saw). Before the mix, a warm-up question
loads everything, then the bus question (How many people...?) is asked of the loaded agent on a
copy of bus.jpg with one pixel changed, so no tool result is cached. ``--cold`` also times a
fresh ``visorch ask`` process on the bus question, loads included.

Prints: p50/p95 end-to-end, time per stage (selection, prompt build, prefill, decode, tools,
orchestration), LLM calls per question, plan-cache hit rate, rule verdicts, validity and accuracy
per question type; with ``--compare`` the saved figures of an earlier run side by side. Goals
(issue 12): bus question on a loaded agent <= 6 s, cold ask <= 15 s, planning <= 3 s, <= 1.5 LLM
calls per question, orchestration <= 2 % of end-to-end, accuracy >= before. The machine's CPU is
shared, so wall times are noisy: the load average before and after the run is printed with them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image
from visorch.agent import Agent, AgentConfig
from visorch.evaluation.answers import exact_match
from visorch.evaluation.build_questions import count_questions, exists_questions
from visorch.evaluation.coco import open_coco
from visorch.evaluation.paths import default_data_root
from visorch.evaluation.questions import Question, load_questions

BUS_QUESTION = "How many people are in the image?"
STAGES = ("selection_s", "prompt_s", "prefill_s", "decode_s", "model_s", "orchestration_s")


def question_mix(qa_per_type: int, coco_val_per_type: int, seed: int = 0) -> list[Question]:
    """The first ``qa_per_type`` bundled questions of each type, plus counting/exists on coco-val."""
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for question in load_questions():
        if taken[question.type] < qa_per_type:
            taken[question.type] += 1
            chosen.append(question)
    if coco_val_per_type > 0:
        root = default_data_root()
        dataset = open_coco(root / "coco-val")
        rng = random.Random(seed)
        for build, kind in ((count_questions, "count"), (exists_questions, "exists")):
            built = build(dataset, root, rng, 4 * coco_val_per_type)
            rng.shuffle(built)
            if kind == "exists":  # half yes, half no
                yes = [q for q in built if q.answer == "yes"][: coco_val_per_type - coco_val_per_type // 2]
                no = [q for q in built if q.answer == "no"][: coco_val_per_type // 2]
                built = yes + no
            for question in built[:coco_val_per_type]:
                question.type = f"coco-val {kind}"
                question.image_path = root / question.image
                chosen.append(question)
    return chosen


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _bus_path() -> Path:
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None and spec.origin is not None, "ultralytics is needed for bus.jpg"
    return Path(spec.origin).parent / "assets" / "bus.jpg"


def _fresh_bus_copy(folder: Path) -> Path:
    """bus.jpg with one pixel changed (a new content hash, so no tool result is cached)."""
    image = Image.open(_bus_path()).convert("RGB")
    x, y = random.randrange(image.width), random.randrange(image.height)
    r, g, b = image.getpixel((x, y))  # type: ignore[misc]
    image.putpixel((x, y), ((r + 1) % 256, g, b))
    target = folder / f"bus-{time.time_ns()}.png"
    image.save(target)
    return target


def _ask(agent: Agent, question: Question | None, image: Path | None = None) -> dict[str, Any]:
    """One question through ``agent.stream``; a record of what happened."""
    planned, invalid, answer, error = [], 0, None, None
    text_question = question.question if question else BUS_QUESTION
    started, cpu = time.perf_counter(), time.process_time()
    try:
        events = agent.stream(
            image=image or (question.image_path if question else None),
            question=text_question,
            audio=question.audio_path if question else None,
        )
        for event in events:
            if event.event == "planned":
                planned.append(
                    {
                        "llm_s": event.data.get("llm_seconds", 0.0),
                        "lines": event.data["program"].count("\n") + 1,
                        "cached": bool(event.data.get("from_cache")),
                    }
                )
            elif event.event == "invalid":
                invalid += 1
            elif event.answer is not None:
                answer = event.answer
    except Exception as failure:  # recorded per question; the benchmark goes on
        error = f"{type(failure).__name__}: {failure}"
    text = answer.text if answer else ""
    correct = bool(question and answer is not None and exact_match(text, question.answer, question.answer_type))
    return {
        "id": question.id if question else "bus",
        "type": question.type if question else "bus",
        "question": text_question,
        "expected": question.answer if question else None,
        "answer_type": question.answer_type if question else None,
        "answer": text,
        "correct": correct,
        "error": error,
        "planned": planned,
        "invalid": invalid,
        "programs": [p.source for p in answer.programs] if answer else [],
        "rule_verdicts": sum(1 for v in answer.verdicts if v.by_rule) if answer else 0,
        "stop_reason": answer.stop_reason if answer else None,
        "timings": answer.timings.model_dump() if answer else None,
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
    }


def _seconds(record: dict[str, Any]) -> float:
    return float(record["timings"]["total_s"] if record["timings"] else record["wall_s"])


def _cold_ask(image: Path) -> dict[str, Any]:
    """A fresh ``visorch ask`` process on the bus question, loads included."""
    command = [str(Path(sys.executable).parent / "visorch"), "ask", str(image), BUS_QUESTION, "--json"]
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    answer, timings = "", {}
    try:
        reply = json.loads(run.stdout)
        answer, timings = reply.get("text", ""), reply.get("timings", {})
    except json.JSONDecodeError:
        answer = run.stdout.strip()[-80:]
    return {"seconds": seconds, "returncode": run.returncode, "answer": answer, "timings": timings}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one run, from its per-question records (the bus record excluded)."""
    timed = [r["timings"] for r in records if r["timings"]]
    plans = [p for r in records for p in r["planned"]]
    llm_plans = [p["llm_s"] for p in plans if not p["cached"]]
    invalid = sum(r["invalid"] for r in records)
    by_type: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        by_type[record["type"]].append(record["correct"])
    total = sum(t["total_s"] for t in timed) or 1.0
    stages = {stage: sum(t.get(stage, 0.0) or 0.0 for t in timed) for stage in STAGES}
    if not any(t.get("decode_s") for t in timed):  # a run from before the stage split: LLM time as one part
        stages["llm_s"] = sum(t["llm_s"] for t in timed)
    return {
        "questions": len(records),
        "errors": sum(1 for r in records if r["error"]),
        "end_to_end_p50_s": _percentile([t["total_s"] for t in timed], 0.5),
        "end_to_end_p95_s": _percentile([t["total_s"] for t in timed], 0.95),
        "cpu_p50_s": _percentile([r["cpu_s"] for r in records if "cpu_s" in r], 0.5),
        "planning_llm_p50_s": _percentile(llm_plans, 0.5),
        "planning_llm_p95_s": _percentile(llm_plans, 0.95),
        "programs_planned": len(plans),
        "programs_valid": len(plans) - invalid,
        "plan_cache_hits": sum(1 for p in plans if p["cached"]),
        "rule_verdicts": sum(r["rule_verdicts"] for r in records),
        "llm_calls_per_question": statistics.mean(t["llm_calls"] for t in timed) if timed else float("nan"),
        "total_s": total,
        "stages_s": stages,
        "orchestration_share": stages["orchestration_s"] / total,
        "accuracy": {kind: [sum(r), len(r)] for kind, r in sorted(by_type.items())},
        "correct": sum(r["correct"] for r in records),
    }


def _print_figures(now: dict[str, Any], before: dict[str, Any] | None) -> None:
    def row(name: str, value: Any, previous: Any = None, goal: str = "") -> None:
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        old = "" if before is None else (f"{previous:.2f}" if isinstance(previous, float) else str(previous))
        print(f"  {name:34s} {old:>14s} {shown:>14s}   {goal}")

    b = before or {}
    print(f"\n  {'figure':34s} {'before' if before else '':>14s} {'now':>14s}   goal")
    for key, goal in (("bus_loaded_s", "<= 6 s"), ("bus_after_mix_s", "<= 6 s"), ("bus_cold_s", "<= 15 s")):
        if key in now or key in b:
            row(key.replace("_", " "), now.get(key, "-"), b.get(key, "-"), goal)
    if "bus_answer" in now:
        row("bus answer", repr(now["bus_answer"]), repr(b.get("bus_answer", "-")), "4 (ultralytics' bus.jpg)")
    row("end-to-end p50 s", now["end_to_end_p50_s"], b.get("end_to_end_p50_s"))
    row("CPU time p50 s (this process)", now.get("cpu_p50_s", "-"), b.get("cpu_p50_s", "-"))
    row("end-to-end p95 s", now["end_to_end_p95_s"], b.get("end_to_end_p95_s"))
    row("planning (LLM) p50 s", now["planning_llm_p50_s"], b.get("planning_llm_p50_s"), "<= 3 s")
    row("planning (LLM) p95 s", now["planning_llm_p95_s"], b.get("planning_llm_p95_s"))
    row("LLM calls / question", now["llm_calls_per_question"], b.get("llm_calls_per_question"), "<= 1.5")
    valid = f"{now['programs_valid']}/{now['programs_planned']}"
    row("valid programs", valid, f"{b.get('programs_valid')}/{b.get('programs_planned')}", "100 %")
    hits = f"{now['plan_cache_hits']}/{now['programs_planned']}"
    row("plan-cache hits", hits, f"{b.get('plan_cache_hits', 0)}/{b.get('programs_planned')}")
    row("rule verdicts", now["rule_verdicts"], b.get("rule_verdicts"))
    row("errors", now["errors"], b.get("errors"))
    print("  time per stage (sum over the questions, s):")
    for stage in sorted(set(now["stages_s"]) | set(b.get("stages_s", {}))):
        row(f"  {stage}", now["stages_s"].get(stage, "-"), b.get("stages_s", {}).get(stage, "-"))
    row("orchestration share", now["orchestration_share"], b.get("orchestration_share"), "<= 0.02")
    print("  accuracy per question type:")
    for kind in sorted(set(now["accuracy"]) | set(b.get("accuracy", {}))):
        ok, n = now["accuracy"].get(kind, [0, 0])
        old_ok, old_n = b.get("accuracy", {}).get(kind, [0, 0])
        row(f"  {kind}", f"{ok}/{n}", f"{old_ok}/{old_n}" if before else None)
    row("  all", f"{now['correct']}/{now['questions']}", f"{b.get('correct')}/{b.get('questions')}" if before else None)


def _agent_config(overrides: list[str]) -> AgentConfig:
    config = AgentConfig()
    values: dict[str, Any] = {}
    for item in overrides:
        key, _, raw = item.partition("=")
        values[key] = json.loads(raw) if raw[:1] in "0123456789-[{tfn" and raw not in ("none",) else raw
    return AgentConfig.model_validate({**config.model_dump(), **values}) if values else config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa-per-type", type=int, default=1, help="bundled qa questions of each type")
    parser.add_argument("--coco-val-per-type", type=int, default=4, help="coco-val count and exists questions each")
    parser.add_argument("--agent", action="append", default=[], help="an AgentConfig field, key=value (JSON)")
    parser.add_argument("--cold", action="store_true", help="also time a cold `visorch ask` on the bus question")
    parser.add_argument("--save", type=Path, help="write the figures and per-question records to this JSON file")
    parser.add_argument("--compare", type=Path, help="print an earlier run's saved figures side by side")
    parser.add_argument("--show", type=Path, help="print a saved run's figures (with --compare) and stop")
    arguments = parser.parse_args()
    if arguments.show:
        _show(arguments.show, arguments.compare)
        return

    questions = question_mix(arguments.qa_per_type, arguments.coco_val_per_type)
    config = _agent_config(arguments.agent)
    load_before = os.getloadavg()[0]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, Agent(config) as agent:
        if arguments.cold:
            cold = _cold_ask(_fresh_bus_copy(Path(folder)))
            figures.update(bus_cold_s=cold["seconds"], bus_cold_answer=cold["answer"], bus_cold_timings=cold["timings"])
            print(f"cold `visorch ask` (bus): {cold['seconds']:.1f} s, answer {cold['answer']!r}, "
                  f"rc {cold['returncode']}, timings {cold['timings']}")  # fmt: skip
        warm = time.perf_counter()
        agent.ask(image=questions[0].image_path, question="Is there a dog in the image?")
        print(f"warm-up (loads the LLM, embeddings and tools): {time.perf_counter() - warm:.1f} s")
        bus = _ask(agent, None, _fresh_bus_copy(Path(folder)))
        figures.update(bus_loaded_s=_seconds(bus), bus_answer=bus["answer"], bus_loaded_cpu_s=bus["cpu_s"])
        calls = bus["timings"]["llm_calls"] if bus["timings"] else "?"
        print(f"bus question on the loaded agent: {figures['bus_loaded_s']:.1f} s ({bus['cpu_s']:.1f} s CPU), "
              f"answer {bus['answer']!r}, {calls} LLM calls, error {bus['error']}")  # fmt: skip
        records = []
        for number, question in enumerate(questions, 1):
            record = _ask(agent, question)
            records.append(record)
            mark = "ok " if record["correct"] else "BAD"
            calls = record["timings"]["llm_calls"] if record["timings"] else "?"
            print(f"[{number}/{len(questions)}] {mark} {question.type:18s} {record['answer'][:40]!r:42s} "
                  f"expected {question.answer!r}  {_seconds(record):5.1f} s, {calls} LLM calls"
                  + (f"  ERROR {record['error']}" if record["error"] else ""))  # fmt: skip
        again = _ask(agent, None, _fresh_bus_copy(Path(folder)))  # with the plan cache the mix has filled
        figures.update(bus_after_mix_s=_seconds(again), bus_after_mix_answer=again["answer"])
        print(f"bus question after the mix: {figures['bus_after_mix_s']:.1f} s, answer {again['answer']!r}")
    figures.update(summarise(records))
    figures.update(load_before=load_before, load_after=os.getloadavg()[0], config=config.model_dump(mode="json"))
    print(f"\nload average (1 min) before {load_before:.1f}, after {figures['load_after']:.1f}: "
          "the CPU is shared, so wall times are noisy")  # fmt: skip
    if arguments.save:
        arguments.save.parent.mkdir(parents=True, exist_ok=True)
        arguments.save.write_text(json.dumps({"figures": figures, "records": [bus, *records]}, indent=1, default=str))
        print(f"saved: {arguments.save}")
    before = _rescored(arguments.compare) if arguments.compare and arguments.compare.is_file() else None
    _print_figures(figures, before)


def _rescored(path: Path) -> dict[str, Any]:
    """A saved run's figures, its answers scored again by today's parser (earlier parsers had bugs)."""
    saved = json.loads(path.read_text())
    records = [r for r in saved["records"] if r["type"] != "bus"]
    for record in records:
        if record.get("answer_type"):
            record["correct"] = exact_match(record["answer"], record["expected"], record["answer_type"])
    return {**saved["figures"], **summarise(records)}


def _show(path: Path, compare: Path | None) -> None:
    now = _rescored(path)
    print(f"{path}: load average before {now.get('load_before', 0):.1f}, after {now.get('load_after', 0):.1f}")
    _print_figures(now, _rescored(compare) if compare and compare.is_file() else None)


if __name__ == "__main__":
    main()
