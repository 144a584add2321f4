"""The executor: runs a validated program as a dependency graph.

Independent steps run concurrently on worker threads (model calls release the GIL), dependent
steps in order. Each step has a time limit. A failing step stops only the steps that depend on
it; its independent siblings still run, and every error stays attached to its step in the trace.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from visorch.programs.ast import ListValue, Literal, Reference, Step, Value, format_value
from visorch.programs.errors import StepTimeoutError
from visorch.programs.trace import StepRecord, StepStatus, Trace
from visorch.programs.validator import ValidatedProgram
from visorch.tools.context import ToolContext
from visorch.tools.errors import InputError, ToolExecutionError, VisorchError


@dataclass(frozen=True)
class ExecutorOptions:
    """Concurrency and time limits of one program run."""

    max_workers: int = 4
    step_timeout_s: float = 300.0
    """A step still running after this long is marked timed out and its dependents are skipped."""


@dataclass(frozen=True)
class StepEvent:
    """Sent to the ``on_event`` callback when a step starts, finishes or is restored."""

    kind: str  # "started", "finished" or "restored" (taken from a journal, not run)
    record: StepRecord


def _resolve(value: Value, values: dict[str, Any]) -> Any:
    if isinstance(value, Literal):
        return value.value
    if isinstance(value, Reference):
        return values[value.name]
    assert isinstance(value, ListValue)
    return [_resolve(item, values) for item in value.items]


def _describe_error(error: BaseException) -> tuple[str, str, str | None]:
    """(type name, one-line message, traceback text for unexpected errors)."""
    if isinstance(error, ToolExecutionError) and error.__cause__ is not None:
        cause = error.__cause__
        details = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
        return type(error).__name__, str(error), details
    if isinstance(error, VisorchError):
        return type(error).__name__, str(error), None
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return type(error).__name__, f"{type(error).__name__}: {error}", details


class _Run:
    def __init__(
        self,
        validated: ValidatedProgram,
        inputs: dict[str, Any],
        ctx: ToolContext,
        options: ExecutorOptions,
        on_event: Callable[[StepEvent], None] | None,
        restored: Mapping[str, StepRecord] | None = None,
    ) -> None:
        self.validated = validated
        self.ctx = ctx
        self.options = options
        self.on_event = on_event
        self.values: dict[str, Any] = dict(inputs)
        self.steps = {step.target: step for step in validated.steps}
        self.records = {
            step.target: StepRecord(target=step.target, tool=step.tool, line=step.position.line, text=step.text)
            for step in validated.steps
        }
        self.dependents: dict[str, list[str]] = {target: [] for target in self.steps}
        for target, needs in validated.dependencies.items():
            for need in needs:
                self.dependents[need].append(target)
        self.waiting = {target: len(validated.dependencies[target]) for target in self.steps}
        self.finished: queue.Queue[tuple[str, Any, BaseException | None, float]] = queue.Queue()
        self.started_at = time.perf_counter()
        self.restored = dict(restored or {})

    def restore(self) -> None:
        """Take the steps a journal holds as already finished (in program order: each one's needs first)."""
        for step in self.validated.steps:
            earlier = self.restored.get(step.target)
            needs = self.validated.dependencies[step.target]
            if earlier is None or earlier.tool != step.tool or earlier.status not in (StepStatus.OK, StepStatus.FAILED):
                continue
            if any(self.records[need].status != StepStatus.OK or not self.records[need].restored for need in needs):
                continue  # a step is restored only on top of restored inputs
            record = earlier.model_copy(update={"restored": True, "started_s": None})
            self.records[step.target] = record
            self.emit("restored", record)
            if record.status == StepStatus.OK:
                self.values[step.target] = record.output
                for dependent in self.dependents[step.target]:
                    self.waiting[dependent] -= 1
            else:
                self.skip_dependents(step.target)

    def emit(self, kind: str, record: StepRecord) -> None:
        if self.on_event is not None:
            self.on_event(StepEvent(kind, record))

    def call_step(self, step: Step, arguments: dict[str, Any], variables: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            tool = self.validated.tools[step.target]
            expression = self.validated.expressions.get(step.target)
            value, cached = tool.run_cached(self.ctx, arguments, variables, expression)
            if cached:
                self.records[step.target].cached = True
            self.finished.put((step.target, value, None, time.perf_counter() - started))
        except BaseException as error:  # the error belongs to this step, whatever it is
            self.finished.put((step.target, None, error, time.perf_counter() - started))

    def start(self, target: str) -> None:
        step = self.steps[target]
        record = self.records[target]
        arguments = {argument.name: _resolve(argument.value, self.values) for argument in step.arguments}
        expression = self.validated.expressions.get(target)
        variables = {name: self.values[name] for name in expression.variables} if expression else {}
        record.inputs = arguments
        record.sources = {argument.name: format_value(argument.value) for argument in step.arguments}
        record.status = StepStatus.RUNNING
        record.started_s = time.perf_counter() - self.started_at
        self.emit("started", record)
        thread = threading.Thread(
            target=self.call_step, args=(step, arguments, variables), name=f"visorch-step-{target}", daemon=True
        )
        thread.start()

    def skip_dependents(self, failed: str) -> None:
        pending = list(self.dependents[failed])
        while pending:
            target = pending.pop()
            record = self.records[target]
            if record.status != StepStatus.PENDING:
                continue
            record.status = StepStatus.SKIPPED  # not an error of its own: the status says it
            record.error = f"not run: it depends on {failed}, which did not finish"
            self.emit("finished", record)
            pending.extend(self.dependents[target])

    def finish(self, target: str, value: Any, error: BaseException | None, seconds: float) -> list[str]:
        record = self.records[target]
        if record.status != StepStatus.RUNNING:
            return []  # a late result of a step already marked as timed out
        record.duration_s = seconds
        if error is None:
            record.status = StepStatus.OK
            record.output = value
            self.values[target] = value
            self.emit("finished", record)
            ready = []
            for dependent in self.dependents[target]:
                self.waiting[dependent] -= 1
                if self.waiting[dependent] == 0 and self.records[dependent].status == StepStatus.PENDING:
                    ready.append(dependent)
            return ready
        record.status = StepStatus.FAILED
        record.error_type, record.error, record.error_details = _describe_error(error)
        self.emit("finished", record)
        self.skip_dependents(target)
        return []

    def run(self) -> dict[str, StepRecord]:
        self.restore()
        order = [step.target for step in self.validated.steps]
        ready = [t for t in order if self.waiting[t] == 0 and self.records[t].status == StepStatus.PENDING]
        running: dict[str, float] = {}  # target -> deadline
        while ready or running:
            while ready and len(running) < self.options.max_workers:
                target = ready.pop(0)
                running[target] = time.perf_counter() + self.options.step_timeout_s
                self.start(target)
            wait = max(0.0, min(running.values()) - time.perf_counter())
            try:
                target, value, error, seconds = self.finished.get(timeout=wait)
            except queue.Empty:
                now = time.perf_counter()
                for late in [t for t, deadline in running.items() if deadline <= now]:
                    del running[late]
                    limit = self.options.step_timeout_s
                    self.finish(
                        late, None, StepTimeoutError(f"{late} ran longer than {limit:g} s and was abandoned"), limit
                    )
                continue
            if target not in running:
                continue
            del running[target]
            newly_ready = self.finish(target, value, error, seconds)
            ready.extend(t for t in order if t in newly_ready)
        return self.records


def execute_program(
    validated: ValidatedProgram,
    inputs: dict[str, Any],
    ctx: ToolContext,
    options: ExecutorOptions | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    restored: Mapping[str, StepRecord] | None = None,
) -> Trace:
    """Run ``validated`` on ``inputs`` and return its :class:`Trace` (never raises for step errors).

    Each step runs the tool and EVAL expression the validator resolved; nothing is parsed or looked up again.
    ``restored`` holds records of steps that already finished in an earlier, interrupted run of this same
    program (a run journal's): those are taken as they are (``record.restored``), not run again.
    """
    missing = [name for name in validated.inputs if name not in inputs]
    if missing:
        raise InputError(f"the program needs input(s) {', '.join(missing)}; pass them (e.g. --image PATH)")
    started = datetime.now(UTC)
    clock = time.perf_counter()
    records = _Run(validated, inputs, ctx, options or ExecutorOptions(), on_event, restored).run()
    return Trace(
        source=validated.program.source,
        inputs={name: value for name, value in inputs.items() if name in validated.inputs},
        steps=[records[step.target] for step in validated.steps],
        result_target=validated.result,
        started_at=started,
        duration_s=time.perf_counter() - clock,
        dependencies=dict(validated.dependencies),
    )
