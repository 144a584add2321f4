"""The agent graph for LangGraph's own tooling: ``langgraph dev`` reads ``langgraph.json``, which points here.

The LangGraph server brings its own checkpointer and store, so the graph is compiled without
visorch's SQLite checkpointer; its state holds image references (paths and hashes), never pixels.
"""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph
from visorch.agent import Agent
from visorch.graph import build_graph


def make_graph() -> CompiledStateGraph:
    """The compiled agent graph over the default runtime and LLM (models load on first use)."""
    return build_graph(Agent().services)
