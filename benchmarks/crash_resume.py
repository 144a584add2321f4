"""Crash and resume: SIGKILL ``visorch ask`` at random points, resume it in a new process, count repeated tool calls.

Run: .venv/bin/python benchmarks/crash_resume.py [--points 10] [--seed 17] [--no-llm] [--only detector,...]
[--workdir DIR]

Three questions on ultralytics' bus.jpg, each answered once uninterrupted first (its answer and its
real tool invocations are the reference), every run from empty caches in a home of its own:

- detector: "How many people are in the picture?" with LOC (bus), CROP, LOC (person), COUNT from
  the plan cache and the verdict and answer by rule: no LLM; kills during tool steps and at random moments;
- decision: "What color is the bus?" from the plan cache; the embedded LLM judges (and answers):
  kills during the decision-maker's and the refiner's LLM calls;
- planning: "How many people are in the picture?" with no plan cache: the embedded LLM plans; kills
  during the planner's LLM call and at random moments.

Each point picks a trigger (the begin of a tool or role call that tests/crash_probe.py logs, plus a
random share of how long that call took in the uninterrupted run, or a random moment), SIGKILLs the
process then, and runs ``visorch ask --resume THREAD --json`` in a new process (a kill during
start-up, before the run's first checkpoint, leaves nothing to resume: the question is asked
again, as ``--resume`` then says to). It prints one row per point: the stage the kill landed in
(what the probe log shows running), whether the resume answered, whether its answer (text, boxes,
evidence, stop reason) is the uninterrupted run's, the tool calls repeated (those the killed and
the resumed process ran together beyond the uninterrupted run's, per tool), and the wall and CPU
seconds of both processes. Every run restores the same saved LLM prompt prefixes (a warm-up run
evaluates them first), so every process evaluates the same tokens the same way. Wall times are
noisy on a shared machine; the CPU seconds are steadier.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the probes live with the tests

from tests.conftest import ultralytics_asset  # noqa: E402
from tests.crash_probe import (  # noqa: E402
    ProbedRun,
    Trigger,
    at_begin,
    at_time,
    read_log,
    repeated_calls,
    run_visorch,
)


@dataclass(frozen=True)
class Scenario:
    name: str
    question: str
    program: str | None
    """Seeded in the plan cache (None: the LLM plans)."""
    points: tuple[str, ...]
    """Trigger kinds, used in turn: 'tool NAME N' (the Nth begin of NAME), 'plan', 'decide', 'refine', 'random'."""
    llm: bool


SCENARIOS = (
    Scenario(
        "detector",
        "How many people are in the picture?",
        "BOX0=LOC(image=IMAGE, object='bus')\nIMAGE0=CROP(image=IMAGE, box=BOX0)\n"
        "BOX1=LOC(image=IMAGE0, object='person')\nANSWER0=COUNT(box=BOX1)\nFINAL=RESULT(var=ANSWER0)",
        ("tool LOC 2", "tool LOC 1", "random", "tool CROP 1"),
        llm=False,
    ),
    Scenario(
        "decision",
        "What color is the bus?",
        "BOX0=LOC(image=IMAGE, object='bus')\nANSWER0=COLOR(image=IMAGE, box=BOX0)\nFINAL=RESULT(var=ANSWER0)",
        ("decide", "refine", "decide"),
        llm=True,
    ),
    Scenario("planning", "How many people are in the picture?", None, ("plan", "random", "plan"), llm=True),
)


def _environment(home: Path, weights: Path, llm: bool, prefix_states: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VISORCH_")}
    env.update({
        "VISORCH_HOME": str(home), "VISORCH_WEIGHTS_DIR": str(weights), "VISORCH_CONFIG": str(home / "none.toml"),
        "VISORCH_LLM_TIMEOUT_S": "1500", "VISORCH_LLM_PREFIX_STATE_DIR": str(prefix_states),
        "VISORCH_AGENT__MAX_ROUNDS": "1", "VISORCH_AGENT__RULE_MIN_SCORE": "0.05",
    })  # fmt: skip
    if not llm:  # a run that needed the LLM fails at once instead of loading it
        env["VISORCH_LLM_MODEL"] = str(home / "no-llm-in-this-run.gguf")
    return env


def _seed(home: Path, weights: Path, question: str, program: str) -> None:
    from visorch.agent import Agent, AgentConfig
    from visorch.config import VisorchSettings
    from visorch.llm import ScriptedLLM

    settings = VisorchSettings(home=home, weights_dir=weights)
    with Agent(AgentConfig.from_settings(settings), settings=settings, llm=ScriptedLLM([])) as agent:
        assert agent.services.plan_cache is not None
        agent.services.plan_cache.store(question, program, ["IMAGE"])
        assert agent.services.plan_cache.lookup(question, ["IMAGE"]) == program, "the plan cache fills it otherwise"


def _duration(lines: list[dict[str, Any]], what: str, nth: int, tool: str | None) -> float:
    """How long the nth call of ``what`` took in the uninterrupted run (0 when it never ran)."""
    matching = [line for line in lines if line["what"] == what and (tool is None or line.get("tool") == tool)]
    begins = [line["t"] for line in matching if line["event"] == "begin"]
    ends = [line["t"] for line in matching if line["event"] == "end"]
    if len(begins) < nth or len(ends) < nth:
        return 0.0
    return float(ends[nth - 1] - begins[nth - 1])


def _trigger(kind: str, baseline: list[dict[str, Any]], total_s: float, chooser: random.Random) -> tuple[Trigger, str]:
    if kind == "random":
        moment = chooser.uniform(0.05, 0.95) * total_s
        return at_time(moment), f"at {moment:.1f} s"
    parts = kind.split()
    what, tool, nth = (parts[0], parts[1], int(parts[2])) if parts[0] == "tool" else (parts[0], None, 1)
    share = chooser.uniform(0.1, 0.9)
    delay = share * _duration(baseline, what, nth, tool)
    label = f"{tool} #{nth}" if tool else what
    return at_begin(what, nth, delay, tool), f"{label} +{delay:.2f} s"


def _same(answer: dict[str, Any], reference: dict[str, Any]) -> bool:
    keys = ("text", "boxes", "evidence", "stop_reason")
    return all(answer.get(key) == reference.get(key) for key in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10, help="kill points in all (spread over the scenarios)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-llm", action="store_true", help="only the detector scenario (no LLM calls)")
    parser.add_argument("--only", default="", help="comma-separated scenarios to run (detector,decision,planning)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the runs' homes go (default: a temp dir)")
    arguments = parser.parse_args()
    from visorch.tools.models.manager import default_weights_root

    weights = default_weights_root()
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="visorch-crash-resume-"))
    bus = ultralytics_asset("bus.jpg")
    chooser = random.Random(arguments.seed)
    chosen = {name.strip() for name in arguments.only.split(",") if name.strip()}
    scenarios = [s for s in SCENARIOS if not (arguments.no_llm and s.llm) and (not chosen or s.name in chosen)]
    counts = [
        arguments.points // len(scenarios) + (i < arguments.points % len(scenarios)) for i in range(len(scenarios))
    ]
    rows: list[tuple[Any, ...]] = []
    print(f"runs under {workdir}", flush=True)
    for scenario, count in zip(scenarios, counts, strict=True):
        base = workdir / scenario.name / "baseline"
        if scenario.program:
            _seed(base / "home", weights, scenario.question, scenario.program)
        seeded_cache = (base / "home" / "plan-cache.json").read_text() if scenario.program else None
        ask = ["ask", str(bus), scenario.question, "--json", "--quiet"]
        states = workdir / "prefix-states"  # shared: every run restores the same saved prompt prefixes
        if scenario.llm:  # a first run evaluates and saves them; the reference restores them, as the trials do
            warm_home = workdir / scenario.name / "warm"
            if scenario.program:
                _seed(warm_home, weights, scenario.question, scenario.program)
            warm_env = _environment(warm_home, weights, True, states)
            warm = run_visorch(workdir / scenario.name / "warm.jsonl", warm_env, ask).answer()
        reference_run = run_visorch(
            base / "calls.jsonl", _environment(base / "home", weights, scenario.llm, states), ask
        )
        reference = reference_run.answer()
        if scenario.llm:
            same = _same(warm, reference)
            print(f"{scenario.name}: the warm-up run (prefixes evaluated) answered as the reference: {same}")
        baseline_lines = read_log(base / "calls.jsonl")
        print(
            f"{scenario.name}: uninterrupted answer {reference['text']!r} in {reference_run.wall_s:.1f} s "
            f"({reference_run.cpu_s:.1f} s CPU, {reference['timings']['llm_calls']} LLM calls, "
            f"tool calls {dict(reference_run.calls)})",
            flush=True,
        )
        for index in range(count):
            kind = scenario.points[index % len(scenario.points)]
            trigger, label = _trigger(kind, baseline_lines, reference_run.wall_s, chooser)
            trial = workdir / scenario.name / f"point{index}"
            (trial / "home").mkdir(parents=True)
            if seeded_cache is not None:
                (trial / "home" / "plan-cache.json").write_text(seeded_cache)
            env, log = _environment(trial / "home", weights, scenario.llm, states), trial / "calls.jsonl"
            killed = run_visorch(log, env, [*ask, "--thread", "t"], kill=trigger)
            resumed: ProbedRun | None = None
            how = "resumed"
            if killed.killed:
                resumed = run_visorch(log, env, ["ask", "--resume", "t", "--json", "--quiet"])
                if resumed.returncode == 1 and "has nothing to resume" in resumed.stderr:
                    how = "asked again"  # killed while starting, before the run's first checkpoint
                    resumed = run_visorch(log, env, [*ask, "--thread", "t"])
                final = resumed
            else:
                final = killed  # it finished before the kill point
            ok = final.returncode == 0
            same = ok and _same(final.answer(), reference)
            repeated = repeated_calls(reference_run.calls, killed.calls, resumed.calls if resumed else Counter())
            stage = ", ".join(killed.stages) or (
                "not killed: finished first" if not killed.killed else "between stages"
            )
            if how == "asked again":
                stage = "start-up (before the first checkpoint: asked again)"
            rows.append((
                len(rows) + 1, scenario.name, label, stage, "yes" if ok else "NO", "yes" if same else "NO", repeated,
                killed.wall_s, resumed.wall_s if resumed else 0.0, killed.cpu_s, resumed.cpu_s if resumed else 0.0,
            ))  # fmt: skip
            print(
                f"  point {rows[-1][0]}: {label}: {stage}; answer same: {rows[-1][5]}; repeated {repeated}; "
                f"wall {killed.wall_s:.1f} + {resumed.wall_s if resumed else 0.0:.1f} s, "
                f"CPU {killed.cpu_s:.1f} + {resumed.cpu_s if resumed else 0.0:.1f} s",
                flush=True,
            )
    header = ("point", "scenario", "trigger", "stage killed in", "resumed ok", "answer same", "tool calls repeated",
              "killed wall s", "resume wall s", "killed CPU s", "resume CPU s")  # fmt: skip
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{cell:.1f}" if isinstance(cell, float) else str(cell) for cell in row]
        print("| " + " | ".join(cells) + " |")
    killed_points = sum(1 for row in rows if not row[3].startswith("not killed"))
    print(
        f"\n{len(rows)} points ({killed_points} killed): resumed ok {sum(r[4] == 'yes' for r in rows)}, "
        f"answer same {sum(r[5] == 'yes' for r in rows)}, tool calls repeated {sum(r[6] for r in rows)}"
    )


if __name__ == "__main__":
    main()
