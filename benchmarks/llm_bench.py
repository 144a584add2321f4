"""Measure the embedded backend: load time, prompt-prefix reuse, the RAM prompt cache and decode speed.

Run ``.venv/bin/python benchmarks/llm_bench.py [--model PATH] [--threads N]``; it prints one line per measurement.
The two sample prompts are also the fixed prefixes of the prompt-cache tests (tests/test_llm_backends.py).

``--planning [--questions N]`` instead measures where the planner's time goes on the agent's own planner
prompts (the installed tools' cards, three worked examples chosen by words, the first bundled qa question of
each type), one call per question and decoding mode: the program grammar with llama-cpp-python's own
sampler; no grammar; the grammar with the likeliest token checked first; that plus jump-forward over
forced text; and that with one worked example instead of three. Per mode: valid programs, programs that
differ from the first mode's, prompt tokens (evaluated / reused), completion tokens (forced), prefill and
decode seconds, decode tokens per second (sampled tokens over decode time), CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from visorch.llm.llama_cpp_backend import LlamaCppBackend
from visorch.llm.types import ChatMessage, LLMRequest, LLMResponse

# A fixed system prompt of about 300 tokens, shaped like the planner's tool list and worked examples.
SAMPLE_PLANNER_PROMPT = (
    "You write visual programs, one tool call per line. Tools: LOC(image, object) finds boxes of an object; "
    "COUNT(box) counts boxes; CROP(image, box) crops the first box; VQA(image, question) answers a question "
    "about an image; EVAL(expr) evaluates a Python-like expression over earlier results; RESULT(var) returns "
    "the final answer. Every line assigns one variable: NAME=TOOL(arg=value, ...). Strings use single quotes. "
    "Use only the tools listed. Example 1. Question: How many buses are there? Program:\n"
    "BOX0=LOC(image=IMAGE, object='bus')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)\n"
    "Example 2. Question: What colour is the car? Program:\n"
    "BOX0=LOC(image=IMAGE, object='car')\nIMAGE0=CROP(image=IMAGE, box=BOX0)\n"
    "ANSWER0=VQA(image=IMAGE0, question='What colour is the car?')\nFINAL=RESULT(var=ANSWER0)\n"
    "Example 3. Question: Are there more people than dogs? Program:\n"
    "BOX0=LOC(image=IMAGE, object='person')\nBOX1=LOC(image=IMAGE, object='dog')\n"
    "ANSWER0=COUNT(box=BOX0)\nANSWER1=COUNT(box=BOX1)\n"
    "ANSWER2=EVAL(expr='yes' if {ANSWER0} > {ANSWER1} else 'no')\nFINAL=RESULT(var=ANSWER2)\n"
    "Answer with the program only, no explanation."
)
# A second fixed prefix, standing for another agent role (the decision maker) that takes turns with the planner.
SAMPLE_JUDGE_PROMPT = (
    "You judge whether the evidence gathered by a visual program answers the question. You receive the "
    "question, the program, and each step's output: boxes with labels and scores, counts, crops described "
    "in words, OCR text with confidences, and captions. Reply 'answer' when the evidence is sufficient and "
    "consistent, 'replan' when a step failed or the evidence contradicts itself, and 'abstain' when the image "
    "cannot answer the question. Be strict: a count from a detector with low scores is weak evidence; text "
    "read by OCR with confidence under 0.5 is weak evidence; a caption that does not mention the object is "
    "no evidence. Explain your decision in one sentence after the verdict. " * 2
)
PROGRAM_GRAMMAR = r"""root ::= line+
line ::= name "=" tool "(" args ")" "\n"
name ::= [A-Z]+ [0-9]*
tool ::= "LOC" | "COUNT" | "CROP" | "VQA" | "EVAL" | "RESULT"
args ::= arg (", " arg)*
arg ::= [a-z]+ "=" value
value ::= name | "'" [^'\n]* "'"
"""
QUESTIONS = ("How many cats are there?", "Is the bus red?", "What is written on the sign?", "Are there two dogs?")


def _messages(system: str, question: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=question)]


def _run(backend: LlamaCppBackend, label: str, request: LLMRequest) -> LLMResponse:
    """Complete ``request`` and print wall and CPU time (CPU time is less distorted on a busy machine)."""
    cpu_started = time.process_time()
    response = backend.complete(request)
    cpu = time.process_time() - cpu_started
    print(
        f"{label:<46} {response.seconds:6.2f} s (cpu {cpu:6.2f} s)  prompt {response.prompt_tokens:4d} tok "
        f"(reused {response.cached_prompt_tokens:4d})  completion {response.completion_tokens:3d} tok"
    )
    return response


def measure_prefix_reuse(backend: LlamaCppBackend) -> None:
    """First call vs later calls that share the planner prefix (prompt evaluation only: max_tokens=1)."""
    backend.complete(LLMRequest(messages=[ChatMessage(role="user", content="Say hi.")], max_tokens=1))
    for index, question in enumerate(QUESTIONS):
        label = "planner prefix, " + ("first call" if index == 0 else f"later call {index}")
        _run(backend, label, LLMRequest(messages=_messages(SAMPLE_PLANNER_PROMPT, question), max_tokens=1))


def measure_alternating_roles(backend: LlamaCppBackend, label: str) -> float:
    """Two prefixes taking turns (planner, judge, planner, ...); returns the mean time of the later calls."""
    seconds = []
    for index in range(6):
        system = SAMPLE_PLANNER_PROMPT if index % 2 == 0 else SAMPLE_JUDGE_PROMPT
        role = "planner" if index % 2 == 0 else "judge"
        request = LLMRequest(messages=_messages(system, QUESTIONS[index % 4]), max_tokens=1)
        response = _run(backend, f"{label}, call {index + 1} ({role})", request)
        if index >= 2:
            seconds.append(response.seconds)
    return statistics.mean(seconds)


def measure_decode(backend: LlamaCppBackend, grammar: str | None, label: str) -> None:
    """Decode speed with the prompt already cached, so the time is (almost) all generation."""
    request = LLMRequest(messages=_messages(SAMPLE_PLANNER_PROMPT, QUESTIONS[0]), max_tokens=64, grammar=grammar)
    backend.complete(request)
    response = _run(backend, label, request)
    print(f"{'':<46} {response.tokens_per_second:6.2f} tok/s  text: {response.text[:60]!r}")


PLANNING_MODES = (
    # label, grammar, check the likeliest token first, jump-forward, worked examples
    ("grammar (llama-cpp-python sampler)", True, False, False, 3),
    ("no grammar", False, False, False, 3),
    ("grammar, likeliest token checked first", True, True, False, 3),
    ("grammar, checked first + jump-forward", True, True, True, 3),
    ("checked first + jump-forward, 1 example", True, True, True, 1),
)


def measure_planning(model: Path | None, threads: int, questions: int) -> None:
    """The planner's calls on real questions in each decoding mode (see the module docstring)."""
    from visorch.evaluation.questions import load_questions
    from visorch.examples import ExampleSelector, load_examples, usable_examples
    from visorch.nodes import describe_inputs, tools_for
    from visorch.programs.errors import ProgramError
    from visorch.roles.controller import PlanRequest, plan_program
    from visorch.runtime import Runtime

    runtime = Runtime.create()
    offered = runtime.registry.available(runtime.context).offered_to_planner()
    selector = ExampleSelector(usable_examples(load_examples(), offered), None, "words")
    chosen, kinds = [], set()
    for question in load_questions():
        if question.type not in kinds and len(chosen) < questions:
            kinds.add(question.type)
            chosen.append(question)
    cases = []
    for question in chosen:
        audio = {"AUDIO": question.audio_path} if question.audio_path else None
        inputs = runtime.load_inputs({"IMAGE": question.image_path}, audio, question.question)
        cases.append((question.question, inputs))
    backend = LlamaCppBackend(model, n_threads=threads, prefix_state_dir=None)
    backend.complete(LLMRequest(messages=[ChatMessage(role="user", content="hi")], max_tokens=1))  # load
    baseline: dict[str, str] = {}
    for label, grammar, check_first, jump, examples in PLANNING_MODES:
        backend.grammar_check_first, backend.jump_forward = check_first, jump
        rows = []
        for text, inputs in cases:
            registry = tools_for(offered, inputs)
            plan = PlanRequest(question=text, inputs=describe_inputs(inputs), examples=selector.select(text, examples))
            chat = backend if grammar else _WithoutGrammar(backend)
            cpu = time.process_time()
            program, response = plan_program(chat, registry, plan, max_steps=10)
            cpu = time.process_time() - cpu
            try:
                runtime.check(program, inputs)
                valid = True
            except ProgramError:
                valid = False
            baseline.setdefault(text, program)
            rows.append((valid, program != baseline[text], response, cpu))
        responses = [row[2] for row in rows]
        sampled = sum(r.completion_tokens - r.forced_tokens for r in responses)
        decode = sum(r.decode_seconds for r in responses)
        print(
            f"{label:42s} valid {sum(row[0] for row in rows)}/{len(rows)}, changed {sum(row[1] for row in rows)}; "
            f"prompt {statistics.mean(r.prompt_tokens for r in responses):.0f} tok "
            f"(reused {statistics.mean(r.cached_prompt_tokens for r in responses):.0f}), completion "
            f"{statistics.mean(r.completion_tokens for r in responses):.1f} tok "
            f"(forced {statistics.mean(r.forced_tokens for r in responses):.1f}); per call: prefill "
            f"{statistics.mean(r.prefill_seconds for r in responses):.2f} s, decode "
            f"{statistics.mean(r.decode_seconds for r in responses):.2f} s ({sampled / decode if decode else 0:.1f} "
            f"sampled tok/s), total {statistics.mean(r.seconds for r in responses):.2f} s, "
            f"CPU {statistics.mean(row[3] for row in rows):.2f} s"
        )
    for text, program in baseline.items():
        print(f"  {text[:60]!r}: {program.replace(chr(10), ' ; ')}")
    backend.close()
    runtime.close()


class _WithoutGrammar(LlamaCppBackend):
    """The same loaded model, offered as a backend without grammar support (the planner then sends none)."""

    def __init__(self, inner: LlamaCppBackend) -> None:
        self.__dict__.update(inner.__dict__)

    @property
    def supports_grammar(self) -> bool:
        return False

    @property
    def supports_json_schema(self) -> bool:
        return False


def main() -> None:
    """Print the measurements for one GGUF."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the offline pack's planner)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache-mb", type=int, default=512, help="RAM prompt cache for the alternating test")
    parser.add_argument("--planning", action="store_true", help="measure the planner's calls per decoding mode")
    parser.add_argument("--questions", type=int, default=8, help="--planning: questions (one per qa type)")
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, threads {options.threads}")
    if options.planning:
        measure_planning(options.model, options.threads, options.questions)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        return

    backend = LlamaCppBackend(options.model, n_ctx=2048, n_threads=options.threads, prompt_cache_mb=0)
    started = time.monotonic()
    backend.complete(LLMRequest(messages=[ChatMessage(role="user", content="hi")], max_tokens=1))
    print(f"{backend.model}: load + first token {time.monotonic() - started:.2f} s")
    measure_prefix_reuse(backend)
    measure_decode(backend, None, "decode, no grammar")
    measure_decode(backend, PROGRAM_GRAMMAR, "decode, program grammar")
    without_cache = measure_alternating_roles(backend, "alternating, no RAM cache")
    backend.close()

    cached = LlamaCppBackend(options.model, n_ctx=2048, n_threads=options.threads, prompt_cache_mb=options.cache_mb)
    with_cache = measure_alternating_roles(cached, f"alternating, {options.cache_mb} MB RAM cache")
    cached.close()
    print(f"alternating roles, mean of later calls: no cache {without_cache:.2f} s, RAM cache {with_cache:.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
