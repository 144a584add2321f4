"""Errors of the program language, each pointing at a line and column."""

from __future__ import annotations

from dataclasses import dataclass

from visorch.tools.errors import VisorchError


class ProgramError(VisorchError):
    """Base class of every program-language error."""


@dataclass(frozen=True)
class SourcePosition:
    """A 1-based line and column in program text."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


def _pointer(source: str, position: SourcePosition) -> str:
    lines = source.splitlines()
    if not 1 <= position.line <= len(lines):
        return ""
    text = lines[position.line - 1]
    return f"\n    {text}\n    {' ' * (position.column - 1)}^"


class ProgramSyntaxError(ProgramError):
    """Program text that does not follow the language's syntax."""

    def __init__(self, message: str, position: SourcePosition, source: str = "") -> None:
        self.message = message
        self.position = position
        super().__init__(f"syntax error at {position}: {message}{_pointer(source, position)}")


class ExpressionError(ProgramError):
    """An EVAL expression that cannot be parsed or evaluated."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"expression error{where}: {message}")


@dataclass(frozen=True)
class ValidationIssue:
    """One static problem in a program."""

    message: str
    position: SourcePosition

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class ProgramValidationError(ProgramError):
    """A program that parses but cannot run: the issues list says every problem found."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        summary = "; ".join(str(issue) for issue in issues[:5])
        more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
        super().__init__(f"invalid program: {summary}{more}")


class StepTimeoutError(ProgramError):
    """A step ran longer than its time limit."""
