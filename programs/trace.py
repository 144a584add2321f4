"""The trace of a program run: every step's inputs, output, timing and error.

A :class:`Trace` keeps live values (so it can draw boxes on images in HTML and Jupyter) and
serialises to JSON without pixels: images appear as references (content hash, path, size).
:meth:`Trace.to_stored_json` is the exact form a run journal keeps (every float, masks included,
still no pixels) and :meth:`Trace.from_stored_json` rebuilds the live trace from it in any process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from visorch.programs.trace_html import render_trace_fragment, render_trace_html
from visorch.programs.value_codec import decode_value, encode_value
from visorch.tools.types import describe_value, value_to_json


class StepStatus(StrEnum):
    """Where a step is in its run."""

    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class StepRecord(BaseModel):
    """One step's run: what went in, what came out, how long it took, what went wrong.

    The executor fills it in as the step runs; it holds live values (so the HTML can draw them)
    and serialises itself to JSON without pixels.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: str
    tool: str
    line: int
    text: str
    status: StepStatus = StepStatus.PENDING
    inputs: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)
    """Each argument as written in the program (``IMAGE``, ``'bus'``), for display."""
    output: Any = None
    error: str | None = None
    error_type: str | None = None
    error_details: str | None = None
    started_s: float | None = None
    duration_s: float | None = None
    cached: bool = False
    restored: bool = False
    """Taken from the run journal when a run resumed after a crash: the tool did not run again."""

    @field_serializer("inputs")
    def _inputs_json(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {name: value_to_json(value) for name, value in inputs.items()}

    @field_serializer("output")
    def _output_json(self, output: Any) -> Any:
        return value_to_json(output)

    @property
    def ok(self) -> bool:
        """Whether the step produced an output."""
        return self.status == StepStatus.OK

    def summary(self) -> str:
        """One line: ``BOX0=LOC(...) -> 3 boxes: ...`` or the error."""
        if self.ok:
            return f"{self.text}  ->  {describe_value(self.output)}"
        return f"{self.text}  ->  {self.status.value.upper()}: {self.error}"


def step_to_stored(record: StepRecord) -> dict[str, Any]:
    """One step's record as exact JSON data (see :mod:`visorch.programs.value_codec`)."""
    return {
        **record.model_dump(mode="json", exclude={"inputs", "output"}),
        "inputs": {name: encode_value(value) for name, value in record.inputs.items()},
        "output": encode_value(record.output),
    }


def step_from_stored(data: dict[str, Any]) -> StepRecord:
    """The record :func:`step_to_stored` wrote, with live values."""
    plain = {key: value for key, value in data.items() if key not in ("inputs", "output")}
    inputs = {name: decode_value(value) for name, value in data.get("inputs", {}).items()}
    return StepRecord(**plain, inputs=inputs, output=decode_value(data.get("output")))


class TraceJSON(BaseModel):
    """A trace as JSON: the program, the inputs and every step, with image references only."""

    source: str
    inputs: dict[str, Any]
    steps: list[StepRecord]
    result_target: str
    result: Any
    ok: bool
    error: str | None
    started_at: datetime
    duration_s: float


@dataclass
class Trace:
    """What happened when a program ran."""

    source: str
    inputs: dict[str, Any]
    steps: list[StepRecord]
    result_target: str
    started_at: datetime
    duration_s: float
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """For each step, the earlier steps it reads."""

    def step(self, target: str) -> StepRecord:
        """The record of the step assigning ``target``."""
        return next(record for record in self.steps if record.target == target)

    @property
    def ok(self) -> bool:
        """Whether the RESULT step produced a value."""
        return self.step(self.result_target).ok

    @property
    def result(self) -> Any:
        """The program's answer (None when it failed; see :attr:`error`)."""
        return self.step(self.result_target).output

    @property
    def failed_steps(self) -> list[StepRecord]:
        """Steps that raised or timed out (not the ones skipped because of them)."""
        return [record for record in self.steps if record.status == StepStatus.FAILED]

    @property
    def error(self) -> str | None:
        """The first failure that stopped the result, or None."""
        if self.ok:
            return None
        failed = self.failed_steps
        if failed:
            first = failed[0]
            return f"{first.target} ({first.tool}, line {first.line}) failed: {first.error}"
        return self.step(self.result_target).error

    def ancestors(self, target: str) -> list[str]:
        """The steps ``target`` depends on, directly or not, in program order."""
        seen: set[str] = set()
        pending = list(self.dependencies.get(target, ()))
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(self.dependencies.get(name, ()))
        return [record.target for record in self.steps if record.target in seen]

    @property
    def busy_seconds(self) -> float:
        """Wall time during which at least one step was running (the union of step intervals)."""
        intervals = sorted(
            (r.started_s, r.started_s + r.duration_s) for r in self.steps if r.started_s is not None and r.duration_s
        )
        total, current_start, current_end = 0.0, None, None
        for start, end in intervals:
            if current_end is None or start > current_end:
                if current_end is not None and current_start is not None:
                    total += current_end - current_start
                current_start, current_end = start, end
            else:
                current_end = max(current_end, end)
        if current_end is not None and current_start is not None:
            total += current_end - current_start
        return total

    @property
    def tool_seconds(self) -> float:
        """Time spent inside tool calls (summed over steps, so concurrent steps add up)."""
        return sum(record.duration_s or 0.0 for record in self.steps)

    def to_json_model(self) -> TraceJSON:
        """The trace as a pydantic model, without pixels."""
        return TraceJSON(
            source=self.source,
            inputs={name: value_to_json(value) for name, value in self.inputs.items()},
            steps=list(self.steps),
            result_target=self.result_target,
            result=value_to_json(self.result),
            ok=self.ok,
            error=self.error,
            started_at=self.started_at,
            duration_s=self.duration_s,
        )

    def to_stored_json(self) -> str:
        """The trace as exact JSON (no pixels; raises UnencodableValue for a value type it cannot store)."""
        return json.dumps(
            {
                "source": self.source,
                "inputs": {name: encode_value(value) for name, value in self.inputs.items()},
                "steps": [step_to_stored(record) for record in self.steps],
                "result_target": self.result_target,
                "started_at": self.started_at.isoformat(),
                "duration_s": self.duration_s,
                "dependencies": {target: list(needs) for target, needs in self.dependencies.items()},
            }
        )

    @classmethod
    def from_stored_json(cls, text: str) -> Trace:
        """The trace :meth:`to_stored_json` wrote (images as references: their pixels load on demand)."""
        data = json.loads(text)
        return cls(
            source=data["source"],
            inputs={name: decode_value(value) for name, value in data["inputs"].items()},
            steps=[step_from_stored(record) for record in data["steps"]],
            result_target=data["result_target"],
            started_at=datetime.fromisoformat(data["started_at"]),
            duration_s=data["duration_s"],
            dependencies={target: tuple(needs) for target, needs in data["dependencies"].items()},
        )

    def to_json(self, indent: int | None = 2) -> str:
        """The trace as JSON text, without pixels."""
        return self.to_json_model().model_dump_json(indent=indent)

    def save_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path``."""
        target = Path(path)
        target.write_text(self.to_json())
        return target

    def to_html(self, title: str = "visorch trace") -> str:
        """A standalone HTML page: the program, each step's inputs and outputs, boxes drawn."""
        return render_trace_html(self, title=title)

    def save_html(self, path: str | Path, title: str = "visorch trace") -> Path:
        """Write :meth:`to_html` to ``path``."""
        target = Path(path)
        target.write_text(self.to_html(title=title), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        """Jupyter: the trace as one element with its own scoped style (readable in dark and light themes)."""
        return render_trace_fragment(self)

    def __str__(self) -> str:
        lines = [record.summary() for record in self.steps]
        return "\n".join(lines)
