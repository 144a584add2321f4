"""16 concurrent ``Agent.ask`` calls on one agent with the embedded LLM: shared model loads, memory, same answers.

Run: VISORCH_LLM_TIMEOUT_S=1500 .venv/bin/python benchmarks/concurrent_load.py [--budget-mb 2000] [--concurrency 16]
         [--limit N]

The questions: the first of each kind of the bundled qa set (counts and "is there" on coco-val, receipt totals,
dates and company names, speech with an image), 16 in all. One agent (its home in a temporary folder: no plan
cache, result cache or checkpoint of anyone else) answers all of them at once from ``--concurrency`` threads,
with ``models.memory_budget_mb = --budget-mb``; a poller records the process's RSS every 20 ms. Then a second
fresh agent answers each question alone, one after another, and the answers are compared.

The plan cache is off in both runs (``--plan-cache`` turns it on): with it, which template a question meets
depends on which questions finished before it, so concurrent and solo runs would plan differently by design.

Prints: questions, models loaded and how often each loaded, peak RSS (and the manager's own count of model
memory) against the budget, answers equal to solo N/16 (with the ones that differ), wall and process CPU time
and LLM calls of both runs. The budget covers the models the model manager holds (detectors, OCR, speech,
embeddings), not the LLM, which the agent loads itself (its GGUF is memory-mapped: its pages count in RSS).
Wall times on a shared machine are noisy; CPU time and LLM calls are not.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from visorch.agent import Agent, AgentConfig, Answer
from visorch.config import VisorchSettings
from visorch.evaluation.questions import Question, load_questions
from visorch.llm.llama_cpp_backend import default_gguf_path
from visorch.runtime import Runtime
from visorch.tools.models.manager import default_weights_root

PER_TYPE = {
    "count": 5,
    "exists": 4,
    "receipt_total": 1,
    "receipt_date": 1,
    "receipt_company": 1,
    "speech_card": 1,
    "speech_person": 2,
    "speech_card_count": 1,
}
"""How many questions of each type of the bundled qa set (16 in all)."""


def questions() -> list[Question]:
    """The first questions of each type of the bundled qa set, as :data:`PER_TYPE` says."""
    taken: Counter[str] = Counter()
    chosen = []
    for question in load_questions():
        if taken[question.type] < PER_TYPE.get(question.type, 0):
            taken[question.type] += 1
            chosen.append(question)
    return chosen


def make_agent(home: Path, budget_mb: float | None, plan_cache: bool) -> Agent:
    """An agent whose every cache lives under ``home``; weights from the usual place."""
    settings = VisorchSettings(home=home, weights_dir=default_weights_root())
    settings.models.memory_budget_mb = budget_mb
    config = AgentConfig.from_settings(settings).model_copy(
        update={
            "plan_cache": plan_cache,
            "plan_cache_path": home / "plan-cache.json",
            "checkpoint_path": home / "checkpoints.sqlite",
        }
    )
    return Agent(config, runtime=Runtime.create(settings))


def ask(agent: Agent, question: Question) -> Answer:
    """One question of the mix, with its image and audio."""
    return agent.ask(image=question.image_path, question=question.question, audio=question.audio_path)


class PeakMemory:
    """Polls the process's RSS and the model manager's loaded memory every 20 ms while the block runs."""

    def __init__(self, agent: Agent) -> None:
        self.models = agent.runtime.context.models
        self.process = psutil.Process()
        self.before_mb = self.peak_mb = self.process.memory_info().rss / 2**20
        self.peak_loaded_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)
            self.peak_loaded_mb = max(self.peak_loaded_mb, self.models.loaded_mb())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def essence(answer: Answer) -> tuple[str, str, int]:
    """What must match between a concurrent and a solo answer: text, stop reason, number of grounded boxes."""
    return answer.text, answer.stop_reason, len(answer.boxes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mb", type=float, default=2000.0, help="models.memory_budget_mb (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--plan-cache", action="store_true", help="keep the plan cache on in both runs")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions of the mix")
    args = parser.parse_args()
    mix = questions()[: args.limit]
    os.environ.setdefault("VISORCH_LLM_TIMEOUT_S", "1500")
    gguf = default_gguf_path(default_weights_root())
    print(f"questions: {len(mix)} ({', '.join(f'{k} {v}' for k, v in Counter(q.type for q in mix).items())})")

    with tempfile.TemporaryDirectory(prefix="visorch-load-") as scratch:
        agent = make_agent(Path(scratch) / "concurrent", args.budget_mb, args.plan_cache)
        models = agent.runtime.context.models
        wall, cpu = time.perf_counter(), time.process_time()
        with PeakMemory(agent) as memory, ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            together = list(pool.map(lambda q: ask(agent, q), mix))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        loads = {name: count for name, count in models.load_counts.items() if count}
        loaded = {name: entry["memory_mb"] for name, entry in models.loaded().items()}
        agent.close()
        print(f"concurrent ({args.concurrency} threads, one agent): {wall:.1f} s wall, {cpu:.1f} s CPU, "
              f"{sum(a.timings.llm_calls for a in together)} LLM calls")  # fmt: skip
        print(f"models loaded: {len(loads)}; loads per model: "
              + ", ".join(f"{name} {count}" for name, count in sorted(loads.items())))  # fmt: skip
        print("model memory as measured at load: " + ", ".join(f"{n} {mb:.0f} MB" for n, mb in sorted(loaded.items())))
        print(f"peak RSS {memory.peak_mb:.0f} MB (before the agent {memory.before_mb:.0f} MB, growth "
              f"{memory.peak_mb - memory.before_mb:.0f} MB, of which the LLM's GGUF file is "
              f"{gguf.stat().st_size / 2**20:.0f} MB mapped); models held at most {models.peak_loaded_mb:.0f} MB "
              f"against models.memory_budget_mb {args.budget_mb:.0f} MB "
              f"({'within' if models.peak_loaded_mb <= args.budget_mb else 'OVER'} budget)")  # fmt: skip

        solo_agent = make_agent(Path(scratch) / "solo", args.budget_mb, args.plan_cache)
        wall, cpu = time.perf_counter(), time.process_time()
        alone = [ask(solo_agent, q) for q in mix]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        solo_agent.close()
        print(f"solo (one question at a time, a fresh agent): {wall:.1f} s wall, {cpu:.1f} s CPU, "
              f"{sum(a.timings.llm_calls for a in alone)} LLM calls")  # fmt: skip

    same = [essence(a) == essence(b) for a, b in zip(together, alone, strict=True)]
    print(f"answers equal to solo: {sum(same)}/{len(mix)}")
    for question, a, b, equal in zip(mix, together, alone, same, strict=True):
        if not equal:
            print(f"  differs: {question.id} {question.question!r}: concurrent {essence(a)} vs solo {essence(b)}")


if __name__ == "__main__":
    main()
