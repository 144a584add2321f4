"""The syntax tree of a visual program: one step per line, ``VAR=TOOL(arg=value, ...)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from visorch.programs.errors import SourcePosition


@dataclass(frozen=True)
class Literal:
    """A string, number, boolean or None written in the program."""

    value: Any
    position: SourcePosition


@dataclass(frozen=True)
class Reference:
    """A use of an earlier variable or of an input (IMAGE, AUDIO, QUESTION, ...)."""

    name: str
    position: SourcePosition


@dataclass(frozen=True)
class ListValue:
    """A list of values, ``[a, b, c]``."""

    items: tuple[Value, ...]
    position: SourcePosition


Value = Literal | Reference | ListValue


@dataclass(frozen=True)
class Argument:
    """``name=value`` inside a step's parentheses."""

    name: str
    value: Value
    position: SourcePosition


@dataclass(frozen=True)
class Step:
    """One line: ``target=TOOL(arguments)``."""

    target: str
    tool: str
    arguments: tuple[Argument, ...]
    position: SourcePosition
    tool_position: SourcePosition
    text: str

    def argument(self, name: str) -> Argument | None:
        """The argument called ``name``, if given."""
        return next((argument for argument in self.arguments if argument.name == name), None)


@dataclass(frozen=True)
class Program:
    """A parsed program: its steps in source order and the text they came from."""

    steps: tuple[Step, ...]
    source: str

    def step(self, target: str) -> Step | None:
        """The step assigning ``target``."""
        return next((step for step in self.steps if step.target == target), None)


def references_in(value: Value) -> list[Reference]:
    """All variable references inside a value (lists included)."""
    if isinstance(value, Reference):
        return [value]
    if isinstance(value, ListValue):
        return [ref for item in value.items for ref in references_in(item)]
    return []


def format_value(value: Value) -> str:
    """Program text for a value (used to print programs back)."""
    if isinstance(value, Reference):
        return value.name
    if isinstance(value, ListValue):
        return "[" + ", ".join(format_value(item) for item in value.items) + "]"
    if isinstance(value.value, str):
        escaped = value.value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        return f"'{escaped}'"
    return repr(value.value)
