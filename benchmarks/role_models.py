"""The decision-maker and the refiner on a small model (Qwen2.5-Coder-0.5B) vs the planner's (1.5B), replayed.

Two steps, so the LLM comparison runs on fixed prompts and needs no full agent runs:

    .venv/bin/python benchmarks/role_models.py record [--qa-per-type 2] [--coco-val-per-type 3]
    .venv/bin/python benchmarks/role_models.py replay [--models 1.5b,0.5b] [--roles decision,refiner,verdict_answer]

``record`` runs, for each question of the mix of ``benchmarks/agent_questions.py`` (the bundled qa set and
counting / ``exists`` questions built from ../shared/data/coco-val), the program the planner writes for its
type (the plan cache's templates: LOC+COUNT, LOC+COUNT+EVAL, OCR, TRANSCRIBE), with the real tools, and
writes the question, the program, the evidence the decision-maker and the refiner read, the result and
the expected answer to ``benchmarks/data/role_cases.jsonl``. Tools only: no LLM.

``replay`` asks each model, for each recorded case, exactly what the agent's roles ask (the same prompt
builders): the verdict (``decide``), the answer (``refine_answer``) and the verdict with the answer in
one call (``decide_with_answer``, ``AgentConfig(verdict_answers=True)``). It prints per model and role:
the calls' wall and CPU seconds, prompt/completion tokens (deterministic), and accuracy:

- verdict: ANSWER when the evidence holds the expected answer (the result in the question's form
  matches it, or all the expected answer's words occur in the evidence), CONTINUE otherwise; and the
  agreement with the 1.5B's verdicts;
- answer (refiner, and the verdict with the answer): exact match with the expected answer, asked only
  on the cases that need a written answer, as in the agent (the others are answered by their result:
  ``form_answers``).

Calls of one role run one after the other (as the RAM prompt cache lets alternating roles do in the
agent). The CPU is shared, so wall times are noisy; CPU seconds are steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from agent_questions import question_mix
from visorch.evaluation.answers import exact_match
from visorch.evidence import result_text, trace_evidence
from visorch.grounding import check_consistency
from visorch.llm.llama_cpp_backend import LlamaCppBackend, pack_gguf_path
from visorch.llm.types import LLMResponse
from visorch.nodes import form_answer
from visorch.roles.decision import decide
from visorch.roles.refiner import refine_answer
from visorch.roles.verdict_answer import decide_with_answer
from visorch.state import ProgramAttempt
from visorch.tools.vocabulary import canonical

CASES_PATH = Path(__file__).parent / "data" / "role_cases.jsonl"
MODELS = {"1.5b": "qwen2.5-coder-1.5b-instruct", "0.5b": "qwen2.5-coder-0.5b-instruct"}
ROLES = ("decision", "refiner", "verdict_answer")
MAX_ROUNDS = 3

_COUNT_PROGRAM = "BOX0=LOC(image=IMAGE, object='{object}')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
_EXISTS_PROGRAM = (
    "BOX0=LOC(image=IMAGE, object='{object}')\nANSWER0=COUNT(box=BOX0)\n"
    "ANSWER1=EVAL(expr=\"'yes' if ANSWER0 > 0 else 'no'\")\nFINAL=RESULT(var=ANSWER1)"
)
PROGRAMS = {
    "count": _COUNT_PROGRAM,
    "exists": _EXISTS_PROGRAM,
    "receipt_total": "TEXT0=OCR(image=IMAGE)\nFINAL=RESULT(var=TEXT0)",
    "receipt_date": "TEXT0=OCR(image=IMAGE)\nFINAL=RESULT(var=TEXT0)",
    "receipt_company": "TEXT0=OCR(image=IMAGE)\nFINAL=RESULT(var=TEXT0)",
    "speech_card": "TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)",
    "speech_card_count": "TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)",
    "speech_person": (
        "TEXT0=TRANSCRIBE(audio=AUDIO)\nBOX0=LOC(image=IMAGE, object='person')\nANSWER0=COUNT(box=BOX0)\n"
        "FINAL=RESULT(var=ANSWER0)"
    ),
}
"""The program the planner writes for each question type (as in benchmarks/agent_questions.py runs)."""
_OBJECT = re.compile(r"^(?:how many|is there an?|are there)\s+(?P<object>.+?)\s+(?:are |is )?in the image", re.I)


def _program(kind: str, question: str) -> str:
    template = PROGRAMS[kind.removeprefix("coco-val ")]
    if "{object}" not in template:
        return template
    found = _OBJECT.match(question)
    if found is None:
        raise ValueError(f"no object in {question!r}")
    return template.format(object=canonical(found["object"]))


def record(path: Path, qa_per_type: int, coco_val_per_type: int) -> None:
    """Run each question's program with the real tools; write the cases the roles are replayed on."""
    from visorch.runtime import Runtime

    runtime = Runtime.create()
    registry = runtime.registry.available(runtime.context).offered_to_planner()
    cases = []
    for question in question_mix(qa_per_type, coco_val_per_type):
        program = _program(question.type, question.question)
        audio = {"AUDIO": question.audio_path} if question.audio_path else None
        inputs = runtime.load_inputs({"IMAGE": question.image_path}, audio, question.question)
        started = time.perf_counter()
        trace = runtime.run_program(program, inputs)
        cases.append({
            "id": question.id, "type": question.type, "question": question.question,
            "expected": question.answer, "answer_type": question.answer_type, "program": program,
            "ok": trace.ok, "error": trace.error, "result": result_text(trace),
            "evidence": trace_evidence(trace, registry), "form_answer": form_answer(question.question, trace),
        })  # fmt: skip
        print(f"{question.type:18s} {question.question[:50]!r:52s} result {str(cases[-1]['result'])[:40]!r} "
              f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    runtime.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    print(f"{len(cases)} cases written to {path}")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def evidence_answers(case: dict[str, Any]) -> bool:
    """Whether the evidence holds the expected answer (what a right verdict says ANSWER to)."""
    if not case["ok"]:
        return False
    if case["form_answer"] is not None:
        return exact_match(case["form_answer"], case["expected"], case["answer_type"])
    wanted = _words(case["expected"])
    return bool(wanted) and wanted <= _words(case["evidence"] or "")


def _attempt(case: dict[str, Any]) -> ProgramAttempt:
    return ProgramAttempt(round=1, source=case["program"], valid=True, ok=case["ok"], result=case["result"],
                          evidence=case["evidence"], error=case["error"], trace_id=case["id"])  # fmt: skip


def _final(case: dict[str, Any], answer: str) -> str:
    """The answer after the verify step: the result replaces an answer that contradicts it."""
    if case["form_answer"] is None:
        return answer
    fixed, _ = check_consistency(answer, _result_value(case["form_answer"]), case["question"])
    return fixed


def _result_value(form: str) -> Any:
    return float(form) if re.fullmatch(r"-?[0-9.]+", form) else form


def _call(role: str, llm: LlamaCppBackend, case: dict[str, Any]) -> tuple[dict[str, Any], LLMResponse]:
    attempt = _attempt(case)
    if role == "decision":
        verdict, response = decide(llm, case["question"], attempt, 1, MAX_ROUNDS)
        return {"verdict": verdict.verdict}, response
    if role == "refiner":
        answer, response = refine_answer(llm, case["question"], [attempt])
        return {"answer": answer}, response
    verdict, answer_text, response = decide_with_answer(llm, case["question"], attempt, 1, MAX_ROUNDS)
    return {"verdict": verdict.verdict, "answer": answer_text}, response


def replay(path: Path, models: list[str], roles: list[str], save: Path | None, limit: int = 0) -> None:
    """Replay every case through each role on each model; print the figures."""
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    cases = cases[:limit] if limit else cases
    print(f"{len(cases)} cases from {path}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    with tempfile.TemporaryDirectory() as states:
        for model in models:
            gguf = pack_gguf_path(MODELS.get(model, model))
            llm = LlamaCppBackend(gguf, prefix_state_dir=Path(states))
            loading = time.perf_counter()
            for role in roles:
                rows = []
                # the agent asks for a written answer only where the result is not already the answer
                asked = cases if role == "decision" else [case for case in cases if case["form_answer"] is None]
                for case in asked:
                    cpu = time.process_time()
                    reply, response = _call(role, llm, case)
                    rows.append({**reply, "id": case["id"], "cpu_s": time.process_time() - cpu,
                                 "seconds": response.seconds, "load_s": response.load_seconds,
                                 "prefill_s": response.prefill_seconds, "decode_s": response.decode_seconds,
                                 "prompt_tokens": response.prompt_tokens,
                                 "completion_tokens": response.completion_tokens,
                                 "cached_tokens": response.cached_prompt_tokens})  # fmt: skip
                results[model][role] = rows
                print(f"  {model} {role}: {len(rows)} calls, {time.perf_counter() - loading:.0f} s so far", flush=True)
            llm.close()
    figures = summarise(cases, results)
    print_figures(figures)
    if save is not None:
        save.write_text(json.dumps({"figures": figures, "results": results}, indent=1))
        print(f"saved: {save}")


def summarise(cases: list[dict[str, Any]], results: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Accuracy, agreement, time and tokens per model and role."""
    by_id = {case["id"]: case for case in cases}
    reference = results.get("1.5b", {})
    figures: dict[str, Any] = {}
    for model, roles in results.items():
        for role, rows in roles.items():
            entry: dict[str, Any] = {
                "calls": len(rows),
                "wall_mean_s": statistics.mean(r["seconds"] for r in rows),
                "cpu_mean_s": statistics.mean(r["cpu_s"] for r in rows),
                "prefill_mean_s": statistics.mean(r["prefill_s"] for r in rows),
                "decode_mean_s": statistics.mean(r["decode_s"] for r in rows),
                "prompt_tokens_mean": statistics.mean(r["prompt_tokens"] for r in rows),
                "completion_tokens_mean": statistics.mean(r["completion_tokens"] for r in rows),
                "load_s": sum(r["load_s"] for r in rows),
            }
            if "verdict" in rows[0]:
                right = [(r["verdict"] == "ANSWER") == evidence_answers(by_id[r["id"]]) for r in rows]
                entry["verdict_right"] = [sum(right), len(rows)]
                entry["answer_verdicts"] = sum(r["verdict"] == "ANSWER" for r in rows)
                ref = {r["id"]: r["verdict"] for r in reference.get(role, [])}
                if ref and model != "1.5b":
                    entry["verdict_agrees_with_1.5b"] = [sum(ref.get(r["id"]) == r["verdict"] for r in rows), len(rows)]
            if "answer" in rows[0]:
                written = [r for r in rows if by_id[r["id"]]["form_answer"] is None]
                right_written = [
                    exact_match(r["answer"] or "", by_id[r["id"]]["expected"], by_id[r["id"]]["answer_type"])
                    for r in written
                ]
                right_all = [
                    exact_match(_final(by_id[r["id"]], r["answer"] or ""), by_id[r["id"]]["expected"],
                                by_id[r["id"]]["answer_type"])
                    for r in rows
                ]  # fmt: skip
                entry["answer_right_where_written"] = [sum(right_written), len(written)]
                entry["answer_right_after_verify"] = [sum(right_all), len(rows)]
                if role == "verdict_answer":
                    entry["answers_given"] = sum(1 for r in rows if r["answer"])
            figures[f"{model} {role}"] = entry
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    """One block per model and role."""
    for name, entry in figures.items():
        print(f"\n{name}: {entry['calls']} calls, wall {entry['wall_mean_s']:.2f} s/call "
              f"(CPU {entry['cpu_mean_s']:.2f}; "
              f"prefill {entry['prefill_mean_s']:.2f}, decode {entry['decode_mean_s']:.2f}), prompt "
              f"{entry['prompt_tokens_mean']:.0f} tok, completion {entry['completion_tokens_mean']:.1f} tok, "
              f"load {entry['load_s']:.1f} s")  # fmt: skip
        for key in ("verdict_right", "verdict_agrees_with_1.5b", "answer_right_where_written",
                    "answer_right_after_verify"):  # fmt: skip
            if key in entry:
                right, total = entry[key]
                print(f"  {key.replace('_', ' '):34s} {right}/{total}")
        for key in ("answer_verdicts", "answers_given"):
            if key in entry:
                print(f"  {key.replace('_', ' '):34s} {entry[key]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("record", "replay"))
    parser.add_argument("--cases", type=Path, default=CASES_PATH)
    parser.add_argument("--qa-per-type", type=int, default=2)
    parser.add_argument("--coco-val-per-type", type=int, default=3)
    parser.add_argument("--models", default="1.5b,0.5b", help="comma-separated: 1.5b, 0.5b or GGUF paths")
    parser.add_argument("--roles", default=",".join(ROLES), help=f"comma-separated, of {', '.join(ROLES)}")
    parser.add_argument("--limit", type=int, default=0, help="replay: only the first N cases (0: all)")
    parser.add_argument("--save", type=Path, help="replay: write the figures and every reply to this JSON file")
    options = parser.parse_args()
    if options.step == "record":
        record(options.cases, options.qa_per_type, options.coco_val_per_type)
    else:
        replay(options.cases, options.models.split(","), options.roles.split(","), options.save, options.limit)


if __name__ == "__main__":
    main()
