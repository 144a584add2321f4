"""visorch's orchestrator: the agent (LLM as controller, decision-maker and semantic refiner), its
LLM backends, the evaluation harness and the CLI.

``from orchestrator import Agent, AgentConfig`` is the main entry point; imports are lazy so the
CLI starts quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.agent import Agent, AgentConfig, AgentEvent, AgentInterrupted, Answer
    from orchestrator.config import VisorchSettings
    from orchestrator.runtime import Runtime

__all__ = ["Agent", "AgentConfig", "AgentEvent", "AgentInterrupted", "Answer", "Runtime", "VisorchSettings"]

_HOMES = {
    "Agent": "orchestrator.agent",
    "AgentConfig": "orchestrator.agent",
    "AgentEvent": "orchestrator.agent",
    "AgentInterrupted": "orchestrator.agent",
    "Answer": "orchestrator.agent",
    "Runtime": "orchestrator.runtime",
    "VisorchSettings": "orchestrator.config",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
