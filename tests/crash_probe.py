"""Test instrumentation for crash-and-resume runs: log every real tool invocation and every LLM role call.

Each real backend invocation (``Tool._call``: the tool function itself, never a result-cache hit or a
step restored from the run journal) and each call of the planner, decision-maker and refiner writes
a JSON line when it begins and when it ends. Every line is one ``os.write`` on an ``O_APPEND``
descriptor, so a SIGKILL never leaves half a line and never loses one already written: what the log
says ended had ended. tests/test_crash_resume.py and benchmarks/crash_resume.py kill a process
running under it at a chosen moment and read the log to know what had finished and what ran again.

As a script it runs the ``visorch`` command line under the probes:
``python tests/crash_probe.py LOG ask IMAGE QUESTION --thread T --json``.

A kill timed by the clock races a fast machine (a small LOC can begin and end within the poll
interval), so a test that must kill *inside* a tool step asks the probe to hold there:
``run_visorch(..., hold=("LOC", 2))`` makes the second real LOC invocation stop right after its begin
line, as a tool still computing would, until the SIGKILL arrives.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE = Path(__file__).resolve()
Trigger = Callable[[list[dict[str, Any]], float], float | None]
"""(this process's log lines so far, seconds since it started) -> seconds to wait before the SIGKILL, or None."""

HOLD_VARIABLE = "VISORCH_PROBE_HOLD"
"""``TOOL:N``: the Nth real invocation of TOOL in the probed process waits after its begin line (until killed)."""

ROLES = {"plan_program": "plan", "decide": "decide", "decide_with_answer": "decide", "refine_answer": "refine"}
"""The role functions the agent's nodes call (patched where the nodes look them up, when they do), by stage."""


def install_probes(log_path: Path, patch: Callable[[Any, str, Any], None] = setattr) -> None:
    """Wrap ``Tool._call`` and the role calls of ``visorch.nodes`` so each begin and end goes to ``log_path``
    (``patch`` is ``setattr`` in a script, ``monkeypatch.setattr`` in a test)."""
    import visorch.nodes as nodes
    from visorch.tools.registry import Tool

    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(event: str, what: str, **extra: Any) -> None:
        line = {"pid": os.getpid(), "t": time.time(), "event": event, "what": what, **extra}
        os.write(descriptor, (json.dumps(line) + "\n").encode())

    original_call = Tool._call
    held_tool, _, held_nth = os.environ.get(HOLD_VARIABLE, "").partition(":")
    begun: Counter[str] = Counter()

    def probed_call(self: Tool, *arguments: Any, **keywords: Any) -> Any:
        log("begin", "tool", tool=self.name)
        begun[self.name] += 1
        if self.name == held_tool and begun[self.name] == int(held_nth or 1):
            while True:  # a tool step that never ends: the test's SIGKILL lands inside it
                time.sleep(60)
        ok = False
        try:
            value = original_call(self, *arguments, **keywords)
            ok = True
            return value
        finally:
            log("end", "tool", tool=self.name, ok=ok)

    patch(Tool, "_call", probed_call)
    for name, stage in ROLES.items():
        function = getattr(nodes, name, None)
        if function is None:
            continue

        def probed_role(*arguments: Any, _function: Any = function, _stage: str = stage, **keywords: Any) -> Any:
            log("begin", _stage)
            try:
                return _function(*arguments, **keywords)
            finally:
                log("end", _stage)

        patch(nodes, name, probed_role)


def read_log(log_path: Path) -> list[dict[str, Any]]:
    """The log's lines (a missing file is an empty log)."""
    if not log_path.is_file():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def finished_tool_calls(lines: list[dict[str, Any]], pid: int | None = None) -> Counter[str]:
    """How many real invocations of each tool ended (in process ``pid``, or in all)."""
    ends = [line for line in lines if line["what"] == "tool" and line["event"] == "end"]
    return Counter(line["tool"] for line in ends if pid in (None, line["pid"]))


def open_stages(lines: list[dict[str, Any]], pid: int) -> list[str]:
    """What process ``pid`` was in the middle of when its log stopped ('plan', 'decide', 'tool LOC', ...)."""
    running: Counter[str] = Counter()
    for line in lines:
        if line["pid"] != pid:
            continue
        name = f"tool {line['tool']}" if line["what"] == "tool" else line["what"]
        running[name] += 1 if line["event"] == "begin" else -1
    return sorted(name for name, count in running.items() if count > 0)


def repeated_calls(baseline: Counter[str], interrupted: Counter[str], resumed: Counter[str]) -> int:
    """Finished tool calls that ran twice: what the interrupted and the resumed process ran together beyond
    what one uninterrupted run of the same question (from the same empty caches) ran."""
    total = interrupted + resumed
    return sum(max(0, total[tool] - baseline[tool]) for tool in total)


@dataclass
class ProbedRun:
    """One ``visorch`` process run under the probes (and perhaps killed)."""

    pid: int
    returncode: int
    killed: bool
    wall_s: float
    cpu_s: float
    """User + system CPU time of the process."""
    stdout: str
    stderr: str
    stages: list[str] = field(default_factory=list)
    """What it was in the middle of when it ended (empty when it finished or was between stages)."""
    calls: Counter[str] = field(default_factory=Counter)
    """Real tool invocations that ended in it, by tool."""

    def answer(self) -> dict[str, Any]:
        """The ``--json`` answer it printed (raises with its stderr when it failed)."""
        if self.returncode != 0:
            raise AssertionError(f"visorch exited {self.returncode}: {self.stderr[-3000:]}")
        return dict(json.loads(self.stdout))


def run_visorch(
    log: Path,
    env: dict[str, str],
    arguments: list[str],
    kill: Trigger | None = None,
    timeout: float = 1800,
    hold: tuple[str, int] | None = None,
) -> ProbedRun:
    """Run ``visorch arguments`` under the probes (log lines to ``log``); SIGKILL it when ``kill`` says so.
    ``hold=(tool, n)`` makes the nth real invocation of ``tool`` wait after it began (see the module's text)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if hold is not None:
        env = {**env, HOLD_VARIABLE: f"{hold[0]}:{hold[1]}"}
    number = len(read_log(log))
    out, err = log.with_suffix(f".{number}.out"), log.with_suffix(f".{number}.err")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    killed = False
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(PROBE), str(log), *arguments], env=env, stdout=stdout, stderr=stderr
        )
        try:
            while kill is not None and process.poll() is None and time.perf_counter() - started < timeout:
                lines = [line for line in read_log(log) if line["pid"] == process.pid]
                delay = kill(lines, time.perf_counter() - started)
                if delay is not None:
                    time.sleep(delay)
                    if process.poll() is None:
                        process.send_signal(signal.SIGKILL)
                        killed = True
                    break
                time.sleep(0.01)
            process.wait(timeout=timeout)
        finally:  # a test that times out, or an interrupted benchmark, leaves no process behind
            if process.poll() is None:
                process.kill()
                process.wait()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = read_log(log)
    return ProbedRun(
        pid=process.pid, returncode=process.returncode, killed=killed, wall_s=wall,
        cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        stdout=out.read_text(), stderr=err.read_text(), stages=open_stages(lines, process.pid),
        calls=finished_tool_calls(lines, process.pid),
    )  # fmt: skip


def at_begin(what: str, nth: int = 1, delay: float = 0.0, tool: str | None = None) -> Trigger:
    """Kill ``delay`` s after the ``nth`` begin of ``what`` ('plan', 'decide', 'refine', 'tool' with ``tool``)."""

    def when(lines: list[dict[str, Any]], _elapsed: float) -> float | None:
        begun = [line for line in lines if line["event"] == "begin" and line["what"] == what]
        begun = [line for line in begun if tool is None or line.get("tool") == tool]
        return delay if len(begun) >= nth else None

    return when


def at_end(what: str, nth: int = 1, delay: float = 0.0, tool: str | None = None) -> Trigger:
    """Kill ``delay`` s after the ``nth`` end of ``what``."""

    def when(lines: list[dict[str, Any]], _elapsed: float) -> float | None:
        ended = [line for line in lines if line["event"] == "end" and line["what"] == what]
        ended = [line for line in ended if tool is None or line.get("tool") == tool]
        return delay if len(ended) >= nth else None

    return when


def at_time(seconds: float) -> Trigger:
    """Kill ``seconds`` after the process started."""
    return lambda _lines, elapsed: max(0.0, seconds - elapsed)


def main(arguments: list[str]) -> None:
    """``crash_probe.py LOG visorch-arguments...``: run the command line with the probes installed."""
    install_probes(Path(arguments[0]))
    from visorch.cli import app

    app(arguments[1:], prog_name="visorch")


if __name__ == "__main__":
    main(sys.argv[1:])
