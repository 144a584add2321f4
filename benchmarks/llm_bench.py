"""Measure the embedded backend: load time, prompt-prefix reuse, the RAM prompt cache and decode speed.

Run ``.venv/bin/python benchmarks/llm_bench.py [--model PATH] [--threads N]``; it prints one line per measurement.
The two sample prompts are also the fixed prefixes of the prompt-cache tests (tests/test_llm_backends.py).
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


def main() -> None:
    """Print the measurements for one GGUF."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the offline pack's planner)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache-mb", type=int, default=512, help="RAM prompt cache for the alternating test")
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, threads {options.threads}")

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
