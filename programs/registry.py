"""The registry a program is checked and run against: the given tools plus EVAL and RESULT."""

from __future__ import annotations

from collections.abc import Iterable

from visorch.programs.builtins import evaluate, result
from visorch.tools.registry import Tool, ToolRegistry


def program_registry(tools: Iterable[Tool]) -> ToolRegistry:
    """``tools`` plus the language's own EVAL and RESULT steps."""
    return ToolRegistry.of([*tools, evaluate, result])
