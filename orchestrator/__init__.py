"""visorch: an agentic visual-reasoning orchestrator.

An LLM plans visual programs over expert tools, judges their evidence and answers with the boxes it
relied on. ``from visorch import Agent, Runtime, tool`` is the main entry point; the subpackages are
``visorch.tools`` (value types, tool registry, model backends), ``visorch.programs`` (the visual
program language and its executor) and ``visorch.evaluation`` (the evaluation harness). Imports are
lazy so the CLI starts quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visorch.environment import apply_library_defaults

apply_library_defaults()  # before any submodule can import ultralytics or transformers

if TYPE_CHECKING:
    from visorch.agent import Agent, AgentConfig, AgentEvent, AgentInterrupted, Answer
    from visorch.config import VisorchSettings
    from visorch.correction import Correction, CorrectionConfig, Corrector, correct
    from visorch.interfaces.langchain_tools import langchain_tools
    from visorch.runtime import Runtime
    from visorch.tools.registry import tool

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentEvent",
    "AgentInterrupted",
    "Answer",
    "Correction",
    "CorrectionConfig",
    "Corrector",
    "Runtime",
    "VisorchSettings",
    "correct",
    "langchain_tools",
    "tool",
]

_HOMES = {
    "Agent": "visorch.agent",
    "AgentConfig": "visorch.agent",
    "AgentEvent": "visorch.agent",
    "AgentInterrupted": "visorch.agent",
    "Answer": "visorch.agent",
    "Runtime": "visorch.runtime",
    "VisorchSettings": "visorch.config",
    "tool": "visorch.tools.registry",
    "Correction": "visorch.correction",
    "CorrectionConfig": "visorch.correction",
    "Corrector": "visorch.correction",
    "correct": "visorch.correction",
    "langchain_tools": "visorch.interfaces.langchain_tools",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'visorch' has no attribute {name!r}")
