"""Errors of the program language, each pointing at a line and column."""

from __future__ import annotations

import re
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


QUOTE_LIMIT = 80
"""Characters of a quoted value an error message shows before cutting it short."""
POINTER_WIDTH = 100
"""Characters of a long source line shown around the error column."""


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out (for error messages)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text) - limit + 20:,} more characters)"


def quoted(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut short when long, so errors never echo a huge argument."""
    return shorten(repr(value), limit)


_LONG_QUOTE = re.compile(r"""(['"])([^'"\n]{""" + str(QUOTE_LIMIT + 1) + r""",})\1""")


def shorten_quotes(text: str) -> str:
    """``text`` with every quoted value longer than QUOTE_LIMIT characters cut short (terminal output)."""
    return _LONG_QUOTE.sub(lambda match: match.group(1) + shorten(match.group(2), QUOTE_LIMIT) + match.group(1), text)


def _pointer(source: str, position: SourcePosition) -> str:
    lines = source.split("\n")
    if not 1 <= position.line <= len(lines):
        return ""
    text = lines[position.line - 1].rstrip("\r")
    column = position.column - 1
    start = max(0, min(column - POINTER_WIDTH // 2, len(text) - POINTER_WIDTH))
    window = text[start : start + POINTER_WIDTH]
    prefix, suffix = ("..." if start > 0 else ""), ("..." if start + POINTER_WIDTH < len(text) else "")
    return f"\n    {prefix}{window}{suffix}\n    {' ' * (len(prefix) + column - start)}^"


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
