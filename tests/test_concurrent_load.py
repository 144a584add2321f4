"""Load: 16 concurrent ``Agent.ask`` calls on one agent share one load of each model, stay within the memory
budget, and answer exactly as each question does alone.

No LLM call is made: the questions meet plan-cache templates (on an isolated cache path) and are answered by
rule (counts, a 'yes', text read), so the embedded LLM is not needed and a ScriptedLLM with no replies stands
in for it (any call would fail the ask). The models are the real offline NanoDet-m detector and RapidOCR on
real photos. ``benchmarks/concurrent_load.py`` runs the same load through the embedded LLM.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from visorch.agent import Agent, AgentConfig, Answer
from visorch.config import VisorchSettings
from visorch.llm import ScriptedLLM
from visorch.plan_cache import PlanCache
from visorch.runtime import Runtime
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.models.manager import ModelManager, default_weights_root

psutil = pytest.importorskip("psutil")

MEMORY_BUDGET_MB = 1200.0
"""models.memory_budget_mb for the concurrent agent; the process's RSS may grow at most this much under load.

Measured here: the two models held 456 MB (as measured at load, imports included) and RSS grew 185 -> 999 MB
at peak (the rest is the 16 programs' working memory: decoded images, ONNX Runtime's arenas)."""

TEMPLATES = {
    "How many people are in the image?": (
        "BOX0=LOC(image=IMAGE, object='person')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
    ),
    "Is there a cat in the image?": (
        "BOX0=LOC(image=IMAGE, object='cat')\nANSWER0=COUNT(box=BOX0)\n"
        "ANSWER1=EVAL(expr=\"'yes' if ANSWER0 > 0 else 'no'\")\nFINAL=RESULT(var=ANSWER1)"
    ),
    "What does the text say?": "TEXT0=OCR(image=IMAGE)\nFINAL=RESULT(var=TEXT0)",
}
"""Programs that answered, stored as plan-cache templates before the questions are asked."""


def _questions(shared_data: Path, bus: Path, zidane: Path) -> list[tuple[Path, str]]:
    coco = shared_data / "coco-val" / "val2017"
    return [
        (bus, "How many people are in the image?"),
        (bus, "How many buses are in the image?"),
        (bus, "Is there a bus in the image?"),
        (shared_data / "receipts" / "data" / "img" / "005.jpg", "What does the text say?"),  # every line read >= 0.9
        (zidane, "How many people are in the image?"),
        (zidane, "How many ties are in the image?"),
        (zidane, "Is there a tie in the image?"),
        (coco / "000000000139.jpg", "How many people are in the image?"),
        (coco / "000000000139.jpg", "How many chairs are in the image?"),
        (coco / "000000000139.jpg", "Is there a tv in the image?"),
        (coco / "000000018575.jpg", "How many cups are in the image?"),
        (coco / "000000034417.jpg", "How many people are in the image?"),
        (coco / "000000092660.jpg", "Is there a broccoli in the image?"),
        (coco / "000000106235.jpg", "Is there a couch in the image?"),
        (coco / "000000126107.jpg", "How many people are in the image?"),
        (coco / "000000136334.jpg", "How many people are in the image?"),
    ]


def _agent(home: Path, budget_mb: float | None = None) -> tuple[Agent, ScriptedLLM]:
    settings = VisorchSettings(home=home, weights_dir=default_weights_root())
    settings.models.memory_budget_mb = budget_mb
    runtime = Runtime.create(settings)
    config = AgentConfig(
        plan_cache_path=home / "plan-cache.json",
        checkpoint_path=home / "checkpoints.sqlite",
        example_selection="words",
        rule_min_score=0.0,  # every box LOC kept counts: the answer is the program's own result
        calibrated_rewrite=False,  # the templates' LOC + COUNT run as written: one detector shared by 16 asks
    )
    cache = PlanCache(config.plan_cache_path, runtime.registry.available(runtime.context).offered_to_planner())
    for question, program in TEMPLATES.items():
        cache.store(question, program, ["IMAGE"])
    llm = ScriptedLLM([])  # a test double with no replies: any LLM call fails the ask
    return Agent(config, runtime=runtime, llm=llm), llm


def _essence(answer: Answer) -> tuple[str, str, list[tuple[str, tuple[float, ...]]]]:
    """What must match between a concurrent and a solo answer: text, stop reason, grounded boxes."""
    boxes = [(box.label, tuple(round(v, 2) for v in box.box)) for box in answer.boxes]
    return answer.text, answer.stop_reason, boxes


class _PeakResidentMemory:
    """Polls this process's RSS (and the manager's loaded memory) every 10 ms while the block runs."""

    def __init__(self, models: ModelManager) -> None:
        self.models = models
        self.process = psutil.Process()
        self.before_mb = self.peak_mb = self.process.memory_info().rss / 2**20
        self.peak_loaded_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)
            self.peak_loaded_mb = max(self.peak_loaded_mb, self.models.loaded_mb())

    def __enter__(self) -> _PeakResidentMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)


@pytest.mark.slow
def test_sixteen_concurrent_asks_share_each_model_and_answer_as_alone(
    shared_data: Path, bus_path: Path, zidane_path: Path, tmp_path: Path
) -> None:
    if not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    questions = _questions(shared_data, bus_path, zidane_path)
    assert len(questions) == 16

    agent, llm = _agent(tmp_path / "concurrent", MEMORY_BUDGET_MB)
    models = agent.runtime.context.models
    spans: list[tuple[float, float]] = []

    def ask(item: tuple[Path, str]) -> Answer:
        started = time.monotonic()
        answer = agent.ask(image=item[0], question=item[1])
        spans.append((started, time.monotonic()))
        return answer

    try:
        with _PeakResidentMemory(models) as memory, ThreadPoolExecutor(max_workers=16) as pool:
            together = list(pool.map(ask, questions))
        loads = {name: count for name, count in models.load_counts.items() if count}
        batches = models.batch_sizes("nanodet-m")
    finally:
        agent.close()
    print(
        f"\n16 concurrent asks: loads {loads}, detector batches up to {max(batches)}, RSS {memory.before_mb:.0f} -> "
        f"{memory.peak_mb:.0f} MB at peak, models held at most {models.peak_loaded_mb:.0f} MB "
        f"(budget {MEMORY_BUDGET_MB:.0f} MB)"
    )
    assert llm.requests == []
    assert all(a.timings.llm_calls == 0 and a.timings.plan_cache_hits == 1 for a in together)
    assert max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans) > 1  # the asks overlapped
    assert set(loads) >= {"nanodet-m", "rapidocr"} and set(loads.values()) == {1}, loads
    assert memory.peak_loaded_mb <= MEMORY_BUDGET_MB and models.peak_loaded_mb <= MEMORY_BUDGET_MB
    assert memory.peak_mb - memory.before_mb <= MEMORY_BUDGET_MB, (memory.before_mb, memory.peak_mb)

    solo_agent, _ = _agent(tmp_path / "solo")
    try:
        alone = [solo_agent.ask(image=image, question=question) for image, question in questions]
    finally:
        solo_agent.close()
    assert [a.stop_reason for a in alone] == ["answered"] * 16
    assert [_essence(a) for a in together] == [_essence(a) for a in alone]


# --- the model manager's own guarantees under threads (small in-test backends that hold real memory) ---


class _MemoryHolder:
    """Test model: holds ``megabytes`` of touched memory, so the process's RSS really grows by that much."""

    def __init__(self, megabytes: int) -> None:
        self.block = np.ones(megabytes * 2**20, dtype=np.uint8)


def _holding_backend(name: str, megabytes: int, declared_mb: float = 0.0) -> Backend:
    def load(request: LoadRequest) -> _MemoryHolder:
        model = _MemoryHolder(megabytes)
        time.sleep(0.3)  # long enough that loads started together would overlap
        return model

    return Backend(
        name=name, capability="test", title=f"test backend {name}", version="1", license="MIT", size_mb=1,
        install_command=f"visorch models pull {name}", load=load, locate=lambda root: root, memory_mb=declared_mb,
    )  # fmt: skip


def test_models_loaded_at_the_same_moment_each_measure_their_own_memory(tmp_path: Path) -> None:
    names = ("first", "second", "third")
    models = ModelManager([_holding_backend(name, 150) for name in names], tmp_path, memory_budget_mb=1000)
    start = threading.Barrier(len(names))

    def load(name: str) -> None:
        start.wait()
        models.load(name)

    threads = [threading.Thread(target=load, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    measured = {name: entry["memory_mb"] for name, entry in models.loaded().items()}
    # Loads that overlapped would each count the others' 150 MB too (and pass the budget check together).
    assert all(140 <= mb < 250 for mb in measured.values()), measured
    assert models.load_counts == dict.fromkeys(names, 1)
    assert models.peak_loaded_mb == pytest.approx(sum(measured.values()), abs=1)


def test_a_budget_for_two_models_holds_when_three_load_at_once(tmp_path: Path) -> None:
    names = ("first", "second", "third")
    backends = [_holding_backend(name, 150, declared_mb=150) for name in names]
    models = ModelManager(backends, tmp_path, memory_budget_mb=400)
    start = threading.Barrier(len(names))

    def load(name: str) -> None:
        start.wait()
        models.load(name)

    threads = [threading.Thread(target=load, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each load checks the budget with every model loaded before it counted: the third evicts the
    # least recently used one first. (Checked together, all three fit an empty budget and 450 MB load.)
    assert len(models.loaded()) == 2 and models.loaded_mb() <= 400
    assert models.peak_loaded_mb <= 400 and sum(models.load_counts.values()) == 3
