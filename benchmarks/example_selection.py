"""Choosing the planner's worked examples by sentence embeddings vs by shared words: cost and agreement.

Run: .venv/bin/python benchmarks/example_selection.py

Prints the time a fresh process needs to import what each method needs (sentence-transformers and torch
for embeddings; nothing more for words), the per-question selection time, and, over the bundled qa
questions plus the coco-val counting/exists questions of agent_questions.py, how often word selection
picks the same top example as the embedding, the overlap of the two top-3 sets, and how often the top
example's program uses the same tools in the same order (what the planner imitates).
"""

from __future__ import annotations

import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from agent_questions import question_mix
from visorch.evaluation.questions import load_questions
from visorch.examples import ExampleSelector, load_examples, usable_examples
from visorch.runtime import Runtime


def _import_seconds(statement: str) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh process running ``statement`` (CPU time is steadier on a busy machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - started, cpu


def _tools(program: str) -> list[str]:
    return re.findall(r"=\s*([A-Z_]+)\(", program)


def main() -> None:
    (base_wall, base_cpu) = _import_seconds("import visorch.agent")
    (wall, cpu) = _import_seconds("import visorch.agent, sentence_transformers, torch")
    print(f"fresh-process import: visorch.agent {base_wall:.1f} s (CPU {base_cpu:.1f} s); with sentence-transformers "
          f"and torch {wall:.1f} s (CPU {cpu:.1f} s): +{cpu - base_cpu:.1f} s CPU for embeddings")  # fmt: skip
    runtime = Runtime.create()
    examples = usable_examples(load_examples(), runtime.registry.available(runtime.context).without("LOAD"))
    by_embedding = ExampleSelector(examples, runtime.context.models, "embedding")
    by_words = ExampleSelector(examples, None, "words")
    questions = list(dict.fromkeys(q.question for q in [*load_questions(), *question_mix(1, 8)]))
    started = time.perf_counter()
    by_embedding.select(questions[0], 3)
    print(f"first embedding selection (loads the model): {time.perf_counter() - started:.1f} s")
    same_top, same_tools, overlaps, seconds = 0, 0, [], {"embedding": [], "words": []}
    for question in questions:
        chosen = {}
        for name, selector in (("embedding", by_embedding), ("words", by_words)):
            started = time.perf_counter()
            chosen[name] = selector.select(question, 3)
            seconds[name].append(time.perf_counter() - started)
        top_e, top_w = chosen["embedding"][-1], chosen["words"][-1]  # most similar last
        same_top += top_e == top_w
        same_tools += _tools(top_e.program) == _tools(top_w.program)
        overlaps.append(len(set(chosen["embedding"]) & set(chosen["words"])) / 3)
    n = len(questions)
    print(f"{n} distinct questions, {len(examples)} usable examples (method used: {by_embedding.method})")
    for name, values in seconds.items():
        print(f"  {name:9s} selection: median {1000 * statistics.median(values):.2f} ms per question")
    print(f"  same top example: {same_top}/{n} ({100 * same_top / n:.0f} %); top examples using the same "
          f"tools in order: {same_tools}/{n} ({100 * same_tools / n:.0f} %); top-3 overlap "
          f"{100 * statistics.mean(overlaps):.0f} %")  # fmt: skip
    runtime.close()


if __name__ == "__main__":
    main()
