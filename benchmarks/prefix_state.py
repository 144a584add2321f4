"""The roles' fixed prompt prefixes: evaluating them vs restoring their saved KV state; decode with and without
the program grammar. Embedded GGUF model (Qwen2.5-Coder-1.5B), real prompts built from the installed tools.

Run: .venv/bin/python benchmarks/prefix_state.py
Prints, per role: prefix tokens, seconds to evaluate it, state file size, seconds to restore it (a fresh
model each time, as in a new process); then the planner's decode speed with the GBNF program grammar and
without it (same prompt, same program length cap). CPU seconds are printed next to wall seconds because
the machine's CPU is shared and wall times are noisy.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from llama_cpp import Llama
from visorch.examples import load_examples, usable_examples
from visorch.llm.llama_cpp_backend import LlamaCppBackend, default_gguf_path
from visorch.llm.prefix_state import PrefixStateStore
from visorch.llm.types import ChatMessage, LLMRequest
from visorch.programs.grammar import program_gbnf
from visorch.roles.controller import PlanRequest, example_messages, system_prompt, user_prompt
from visorch.roles.decision import SYSTEM_PROMPT as DECISION_PROMPT
from visorch.roles.refiner import EXAMPLES, _turn
from visorch.roles.refiner import SYSTEM_PROMPT as REFINER_PROMPT
from visorch.runtime import Runtime


def _fixed_prefixes(registry_prompt: str) -> dict[str, list[ChatMessage]]:
    refiner = [ChatMessage(role="system", content=REFINER_PROMPT)]
    for evidence, question, answer in EXAMPLES:
        refiner += [ChatMessage(role="user", content=_turn(evidence, question)),
                    ChatMessage(role="assistant", content=answer)]  # fmt: skip
    return {
        "planner": [ChatMessage(role="system", content=registry_prompt)],
        "decision": [ChatMessage(role="system", content=DECISION_PROMPT)],
        "refiner": refiner,
    }


def _tokens(backend: LlamaCppBackend, messages: list[ChatMessage]) -> list[int]:
    loaded = backend._load()
    rendered = loaded.formatter(messages=[m.model_dump() for m in messages])
    text = rendered.prompt.encode("utf-8")
    return loaded.llama.tokenize(text, add_bos=not rendered.added_special, special=True)


def _timed(work) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    runtime = Runtime.create()
    registry = runtime.registry.available(runtime.context).without("LOAD")
    model = default_gguf_path(runtime.settings.weights_root)
    prefixes = _fixed_prefixes(system_prompt(registry))
    print(f"load average (1 min) {os.getloadavg()[0]:.1f}; the CPU is shared, wall times are noisy")
    with tempfile.TemporaryDirectory() as folder:
        for role, messages in prefixes.items():
            results = {}
            for attempt in ("evaluate", "restore"):
                backend = LlamaCppBackend(model, prompt_cache_mb=0)
                tokens = _tokens(backend, messages)
                store = PrefixStateStore(Path(folder), model)
                llama: Llama = backend._load().llama
                results[attempt] = _timed(lambda: store.prepare(llama, tokens))  # noqa: B023
                backend.close()
            size = sum(f.stat().st_size for f in Path(folder).glob("*.kv")) / 2**20
            (ew, ec), (rw, rc) = results["evaluate"], results["restore"]
            print(f"{role:9s} prefix {len(tokens):4d} tokens: evaluate {ew:6.2f} s (CPU {ec:6.2f}), "
                  f"restore {rw:5.2f} s (CPU {rc:5.2f}); {size:.1f} MB on disk so far")  # fmt: skip

    backend = LlamaCppBackend(model)
    examples = usable_examples(load_examples(), registry)[:3]
    plan = PlanRequest(question="How many people are on the left of the bus?", inputs={"IMAGE": "image 810x1080"},
                       examples=examples)  # fmt: skip
    question = ChatMessage(role="user", content=user_prompt(plan))
    messages = [prefixes["planner"][0], *example_messages(examples), question]
    grammar = program_gbnf(registry, max_steps=10)
    for label, constraint in (("no grammar", None), ("program grammar", grammar), ("no grammar", None)):
        request = LLMRequest(messages=messages, max_tokens=64, grammar=constraint)
        cpu = time.process_time()
        response = backend.complete(request)
        speed = response.completion_tokens / response.decode_seconds if response.decode_seconds else 0.0
        cpu = time.process_time() - cpu
        print(f"decode, {label:15s}: {response.completion_tokens} tokens in {response.decode_seconds:.2f} s = "
              f"{speed:.1f} tok/s (prefill {response.prefill_seconds:.2f} s, CPU {cpu:.2f} s)")  # fmt: skip
    backend.close()
    runtime.close()


if __name__ == "__main__":
    main()
