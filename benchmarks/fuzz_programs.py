"""Fuzz figures: 10^5 generated and mutated programs through the parser, validator and EVAL.

Run: .venv/bin/python benchmarks/fuzz_programs.py [--cases 100000] [--pool 2000] [--seed 0]
Goal: every case ends as a valid program or one of the language's own errors (ProgramError);
0 crashes, 0 hangs (a case over --bound seconds), bounded time per program. Prints the counts,
the time per program (median, p99, max) and the first crashes, if any.

A pool of programs is drawn from the hypothesis strategies in tests/program_fuzzing.py
(valid-looking programs over the real tool registry, the same mutated, and random text); the
cases are the pool, then the pool under seeded random mutations (hypothesis draws are too slow
for 10^5 on a shared CPU).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.program_fuzzing import PROGRAMS, Outcome, check_program, mutate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=2_000, help="programs drawn from the hypothesis strategies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bound", type=float, default=2.0, help="CPU seconds one program may take")
    options = parser.parse_args()

    pool: list[str] = []

    @seed(options.seed)
    @settings(
        max_examples=options.pool,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],  # count every case; shrinking long programs takes hours
    )
    @given(PROGRAMS)
    def draw(source: str) -> None:
        pool.append(source)

    started, cpu_started = time.perf_counter(), time.process_time()
    draw()
    print(f"pool: {len(pool):,} programs drawn in {time.perf_counter() - started:.0f} s", flush=True)
    # Hypothesis draws are slow (tens of ms each); the 10^5 cases are the pool as drawn, then the
    # pool under cheap seeded random mutations.
    rng = random.Random(options.seed)
    outcomes: list[Outcome] = []
    characters = 0
    for index in range(options.cases):
        base = pool[index % len(pool)]
        source = base if index < len(pool) else mutate(base, rng)
        characters += len(source)
        outcomes.append(check_program(source, options.bound))
        if (index + 1) % 20_000 == 0:
            print(f"  {index + 1:,} cases ...", flush=True)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    counts = Counter(outcome.kind for outcome in outcomes)
    seconds = sorted(outcome.seconds for outcome in outcomes)
    print(f"cases tried: {len(outcomes):,} ({characters / max(1, len(outcomes)):.0f} characters on average)")
    print(f"valid programs: {counts['valid']:,}")
    print(f"typed errors (ProgramError): {counts['typed error']:,}")
    print(f"crashes (any other exception): {counts['crash']:,}")
    print(f"hangs (over {options.bound:g} s of CPU): {counts['hang']:,}")
    print(
        f"CPU time per program: mean {statistics.fmean(seconds) * 1e6:.0f} µs, "
        f"median {statistics.median(seconds) * 1e6:.0f} µs, "
        f"p99 {seconds[int(len(seconds) * 0.99)] * 1e3:.1f} ms, max {seconds[-1] * 1e3:.0f} ms"
    )
    print(f"total: {wall:.0f} s wall, {cpu:.0f} s CPU (drawing the pool included)")
    print("(process CPU time may advance in scheduler ticks of a few ms on a VM: read the mean, not the median)")
    for outcome in [o for o in outcomes if o.kind in ("crash", "hang")][:10]:
        print(f"  {outcome.kind}: {outcome.detail}")


if __name__ == "__main__":
    main()
