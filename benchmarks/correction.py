"""Correction benchmark: absent objects injected into real COCO val captions, corrected offline.

Prints injected removed, true objects lost, CHAIR-i/CHAIR-s before and after, LLM calls and time
per correction and per stage, for the rule path (no LLM) on every item and the LLM path on the
first --llm-items items. Goals: >= 90 % injected removed, <= 5 % true lost, CHAIR-i halved,
< 10 s per two-sentence caption on 2 cores.

    .venv/bin/python benchmarks/correction.py [--data ../shared/data/coco-val] [--llm-items 6]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from visorch.correction import CorrectionConfig, Corrector
from visorch.evaluation.tasks.correct import build_items, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/coco-val"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many images")
    parser.add_argument("--llm-items", type=int, default=6, help="items corrected with the LLM (0: none)")
    args = parser.parse_args()
    items = build_items(args.data, args.limit)
    print(f"{len(items)} injected captions from {args.data}")
    modes = [("rules (no LLM)", CorrectionConfig(concepts="lexical", rewrite="rules"), items)]
    if args.llm_items:
        modes.append(("LLM concepts + LLM rewrite", CorrectionConfig(), items[: args.llm_items]))
    corrector = Corrector(config=CorrectionConfig())
    try:
        for label, config, chosen in modes:
            corrector.config = config
            from visorch.correction.graph import CorrectionServices, build_correction_graph

            corrector.graph = build_correction_graph(CorrectionServices(corrector.runtime, corrector.llm, config))
            cpu = time.process_time()
            scores, rows = run(corrector, chosen)
            print(f"\n== {label}: {scores.items} items, CPU {time.process_time() - cpu:.1f} s in this process")
            for key, value in asdict(scores).items():
                shown = {k: round(v, 2) for k, v in value.items()} if isinstance(value, dict) else (
                    round(value, 3) if isinstance(value, float) else value)  # fmt: skip
                print(f"  {key:<20} {shown}")
            for row in rows[:3]:
                print(f"  e.g. [{row['setting']}] {row['text']!r}\n       -> {row['corrected']!r}")
            kept = [row for row in rows if row["injected_kept"]]
            print(f"  injected kept: {[(r['injected'], r['verdicts']) for r in kept][:8]}")
            lost = [(row["image_id"], row["lost"]) for row in rows if row["lost"]]
            print(f"  true lost: {lost[:8]}")
    finally:
        corrector.close()


if __name__ == "__main__":
    main()
