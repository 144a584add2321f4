"""One tool call from outside visorch (an MCP client, a LangChain agent): files in, JSON out.

Every outside interface offers the same tools, rendered from the same :class:`ToolSpec` that drives
the planner's prompt and grammar. A tool is offered when it can run here and all its arguments are
values an outside caller can give: an image or audio *file path*, text, a number or a boolean.
Tools over earlier results (boxes, crops, transcripts) are reached through ``run_program``.

A call is run as a two-line visual program (``OUTPUT=TOOL(...)`` then ``FINAL=RESULT(...)``), so it
goes through the same validation, argument ranges, result cache and trace as any program.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visorch.programs.ast import Literal, format_value
from visorch.programs.errors import SourcePosition
from visorch.programs.trace import Trace
from visorch.runtime import Runtime
from visorch.tools.errors import InputError, UnknownToolError
from visorch.tools.registry import ParamSpec, ToolSpec
from visorch.tools.types import ValueKind

FILE_KINDS = {ValueKind.IMAGE: "image", ValueKind.AUDIO: "audio"}
"""Argument kinds an outside caller gives as a file path."""
PLAIN_KINDS = {ValueKind.TEXT: str, ValueKind.NUMBER: float, ValueKind.BOOL: bool}
"""Argument kinds an outside caller gives as a JSON value."""
NOT_OFFERED = frozenset({"LOAD", "RESULT", "EVAL"})
"""Program plumbing, not tools: LOAD opens paths itself, RESULT and EVAL work on program variables."""


def python_type(param: ParamSpec) -> type:
    """The JSON-facing Python type of an offered argument (file paths are strings)."""
    if param.kind in FILE_KINDS:
        return str
    return PLAIN_KINDS[param.kind]


def argument_help(param: ParamSpec) -> str:
    """The argument's description as an outside caller reads it."""
    text = param.description
    if param.kind in FILE_KINDS:
        text = f"path of an {FILE_KINDS[param.kind]} file on the server: {text}".rstrip(": ")
    if param.choices:
        text += f" (one of: {', '.join(param.choices)})"
    value_range = getattr(param, "value_range", None)
    if value_range is not None:
        text += f" ({value_range})"
    return text


def tool_help(spec: ToolSpec) -> str:
    """The tool's description for an outside caller: summary, description and limitations."""
    parts = [spec.description]
    if spec.limitations:
        parts.append(f"Limitations: {spec.limitations}")
    parts.append(f"Returns {spec.output.value}.")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class ToolCallResult:
    """What one call returned: the result as JSON (no pixels), and the trace it came from."""

    tool: str
    result: Any
    trace: Trace

    def to_json(self) -> dict[str, Any]:
        """The result, the tool and how long it took, ready for json.dumps."""
        return {"tool": self.tool, "result": self.result, "seconds": round(self.trace.duration_s, 3)}


class ToolCaller:
    """Runs single tool calls for outside clients over one shared :class:`Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def offered(self) -> list[ToolSpec]:
        """The specs of the tools an outside caller can call directly (installed, file/plain arguments)."""
        available = self.runtime.registry.available(self.runtime.context)
        return [
            item.spec
            for item in available
            if item.name not in NOT_OFFERED and all(_callable_kind(param) for param in item.spec.params)
        ]

    def spec(self, name: str) -> ToolSpec:
        """The offered tool called ``name`` (an UnknownToolError names the closest ones)."""
        offered = {spec.name: spec for spec in self.offered()}
        found = offered.get(name.upper())
        if found is None:
            closest = difflib.get_close_matches(name.upper(), list(offered), n=3, cutoff=0.5)
            raise UnknownToolError(name, closest)
        return found

    def call(self, name: str, arguments: dict[str, Any]) -> ToolCallResult:
        """Run tool ``name`` on ``arguments`` (file paths for images/audio); typed errors on bad input."""
        spec = self.spec(name)
        known = {param.name for param in spec.params}
        unknown = sorted(set(arguments) - known)
        if unknown:
            raise InputError(f"{spec.name} has no argument {', '.join(unknown)}; its arguments: {', '.join(known)}")
        images: dict[str, str | Path] = {}
        audio: dict[str, str | Path] = {}
        rendered: list[str] = []
        for param in spec.params:
            if param.name not in arguments or arguments[param.name] is None:
                continue
            value = arguments[param.name]
            if param.kind in FILE_KINDS:
                variable = f"{'IMAGE' if param.kind == ValueKind.IMAGE else 'AUDIO'}_{param.name.upper()}"
                (images if param.kind == ValueKind.IMAGE else audio)[variable] = str(value)
                rendered.append(f"{param.name}={variable}")
            else:
                rendered.append(f"{param.name}={format_value(Literal(value, SourcePosition(1, 1)))}")
        inputs = self.runtime.load_inputs(images, audio)
        source = f"OUTPUT0={spec.name}({', '.join(rendered)})\nFINAL=RESULT(var=OUTPUT0)\n"
        trace = self.runtime.run_program(source, inputs)
        if not trace.ok:
            raise ToolCallFailed(f"{spec.name} failed: {trace.error}")
        return ToolCallResult(tool=spec.name, result=trace.to_json_model().result, trace=trace)


def _callable_kind(param: ParamSpec) -> bool:
    return param.kind in FILE_KINDS or param.kind in PLAIN_KINDS


class ToolCallFailed(InputError):
    """The tool ran and failed (its error says why: missing weights, an unknown class, ...)."""
