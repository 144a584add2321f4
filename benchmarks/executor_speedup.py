"""Executor figures: speed-up of concurrent branches, and the executor's own overhead per step.

Run: .venv/bin/python benchmarks/executor_speedup.py
Goals: about 2x on two independent 1 s branches; under 1 ms of overhead per step.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

from visorch.programs.executor import ExecutorOptions, execute_program
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.validator import validate_program
from visorch.tools.context import ToolContext
from visorch.tools.images import ImageStore
from visorch.tools.models.manager import ModelManager
from visorch.tools.registry import tool


@tool(name="BENCH_SLEEP", category="benchmark", example="A=BENCH_SLEEP(seconds=1.0)")
def bench_sleep(seconds: Annotated[float, "seconds to sleep"]) -> float:
    """Benchmark tool: waits like a model call that releases the GIL."""
    time.sleep(seconds)
    return seconds


@tool(name="BENCH_NOOP", category="benchmark", example="A=BENCH_NOOP(value=1)")
def bench_noop(value: Annotated[int, "a number"]) -> int:
    """Benchmark tool: returns its input at once."""
    return value


def main() -> None:
    registry = program_registry([bench_sleep, bench_noop])
    with tempfile.TemporaryDirectory() as home:
        ctx = ToolContext(images=ImageStore(Path(home)), models=ModelManager([], Path(home)))

        two_branches = validate_program(
            parse_program(
                'A=BENCH_SLEEP(seconds=1.0)\nB=BENCH_SLEEP(seconds=1.0)\nC=EVAL(expr="A + B")\nFINAL=RESULT(var=C)\n'
            ),
            registry,
        )
        timings = {}
        for workers in (1, 4):
            started = time.perf_counter()
            trace = execute_program(two_branches, {}, ctx, ExecutorOptions(max_workers=workers))
            assert trace.ok, trace.error
            timings[workers] = time.perf_counter() - started
        print("two independent 1 s branches")
        print(f"  sequential (1 worker):  {timings[1]:.3f} s")
        print(f"  concurrent (4 workers): {timings[4]:.3f} s")
        print(f"  speed-up: {timings[1] / timings[4]:.2f}x  (goal: about 2x)")

        steps = 500
        lines = ["S0=BENCH_NOOP(value=0)"]
        lines += [f"S{i}=BENCH_NOOP(value=S{i - 1})" for i in range(1, steps)]
        lines.append(f"FINAL=RESULT(var=S{steps - 1})")
        chain = validate_program(parse_program("\n".join(lines)), registry)
        wide_lines = [f"W{i}=BENCH_NOOP(value={i})" for i in range(steps)] + ["FINAL=RESULT(var=W0)"]
        wide = validate_program(parse_program("\n".join(wide_lines)), registry)
        for label, program in (("a chain of dependent steps", chain), ("independent steps", wide)):
            per_step = []
            for _ in range(5):
                started = time.perf_counter()
                trace = execute_program(program, {}, ctx, ExecutorOptions(max_workers=4))
                elapsed = time.perf_counter() - started
                assert trace.ok, trace.error
                per_step.append((elapsed - trace.tool_seconds) / len(trace.steps))
            print(
                f"overhead per step, {label} ({steps} no-op steps, median of 5): "
                f"{statistics.median(per_step) * 1000:.3f} ms  (goal: < 1 ms)"
            )


if __name__ == "__main__":
    main()
