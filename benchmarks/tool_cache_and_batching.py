"""Result-cache speed-up on a repeated program, and eight threads calling one tool.

Run: .venv/bin/python benchmarks/tool_cache_and_batching.py   (needs the offline pack)
Goals: the repeated program at least 20x faster from the cache; eight concurrent LOC calls load
the detector once and run in batches.
"""

from __future__ import annotations

import importlib.util
import tempfile
import threading
import time
from pathlib import Path

from visorch.config import ModelSettings, VisorchSettings
from visorch.runtime import Runtime

PROGRAM = """BOX0=LOC(image=IMAGE, object='person')
BOX1=SELECT(box=BOX0, by='largest')
BOX2=SEG(image=IMAGE, box=BOX1)
TEXT0=OCR(image=IMAGE)
ANSWER0=COUNT(box=BOX0)
FINAL=RESULT(var=ANSWER0)
"""


def _asset(name: str) -> Path:
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None and spec.origin is not None, "ultralytics is not installed"
    return Path(spec.origin).parent / "assets" / name


def cache_speedup(home: Path, weights: Path) -> None:
    settings = VisorchSettings(home=home, weights_dir=weights, models=ModelSettings(cache_results=True))
    runtime = Runtime.create(settings)
    warm = runtime.load_inputs({"IMAGE": _asset("zidane.jpg")})
    runtime.run_program(PROGRAM, warm)  # loads every model, so both timed runs below compute only
    inputs = runtime.load_inputs({"IMAGE": _asset("bus.jpg")})
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        trace = runtime.run_program(PROGRAM, inputs)
        timings.append(time.perf_counter() - started)
        assert trace.ok, trace.error
    cached = sum(record.cached for record in trace.steps)
    print(f"repeated program ({len(trace.steps)} steps, {cached} answered from the cache the second time)")
    print(f"  first run:  {timings[0] * 1000:8.1f} ms")
    print(f"  second run: {timings[1] * 1000:8.1f} ms")
    print(f"  speed-up: {timings[0] / timings[1]:.0f}x  (goal: >= 20x)")
    runtime.close()


def concurrent_calls(home: Path, weights: Path) -> None:
    settings = VisorchSettings(home=home, weights_dir=weights, models=ModelSettings(cache_results=False))
    runtime = Runtime.create(settings)
    ctx = runtime.context
    loc = runtime.registry["LOC"]
    images = [ctx.images.load(_asset(name)) for name in ("bus.jpg", "zidane.jpg")] * 4
    backend = ctx.models.backend_for("detection").name
    results: list[int] = []

    def call(index: int) -> None:
        results.append(len(loc.run(ctx, {"image": images[index], "object": "person"})))

    started = time.perf_counter()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    concurrent = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(8):
        call(i)
    sequential = time.perf_counter() - started
    print(f"eight threads calling LOC ({backend}) on 8 images")
    print(f"  model loads: {ctx.models.load_counts[backend]}  (goal: 1)")
    print(f"  batch sizes: {ctx.models.batch_sizes(backend)}")
    print(f"  wall time, 8 concurrent calls (first load included): {concurrent:.2f} s")
    print(f"  wall time, 8 sequential calls (model loaded):        {sequential:.2f} s")
    runtime.close()


def main() -> None:
    weights = VisorchSettings().weights_root
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        cache_speedup(Path(first), weights)
        concurrent_calls(Path(second), weights)


if __name__ == "__main__":
    main()
