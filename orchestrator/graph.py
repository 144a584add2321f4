"""The agent loop as a LangGraph graph.

    plan (controller) -> validate --invalid--> plan (with the problems, bounded)
                                  --valid----> [approve] -> execute -> decide (decision-maker)
    decide --CONTINUE, rounds and time left--> plan (with the evidence and what is missing)
           --ANSWER, or out of rounds/time---> refine (semantic refiner) -> verify -> END

Nodes live in orchestrator/nodes.py; routing lives here. The checkpointer is passed in at compile
time, never global.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from visorch.nodes import AgentServices, make_nodes
from visorch.state import AgentState


def build_graph(services: AgentServices, checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph:
    """Compile the agent graph over ``services`` (the runtime, the LLM roles' backend, the limits)."""
    nodes = make_nodes(services)
    limits = services.limits
    graph = StateGraph(AgentState)
    for name in ("plan", "validate", "approve", "execute", "decide", "refine", "verify"):
        graph.add_node(name, nodes[name])

    def after_validate(state: AgentState) -> str:
        if state.get("stop_reason"):
            return "refine"
        if not state.get("issues"):
            needs_approval = limits.approve_plans and state.get("approved_program") != state.get("program")
            return "approve" if needs_approval else "execute"
        if state.get("plan_attempts", 0) < limits.max_plan_attempts and not nodes["over_budget"](state):
            return "plan"
        return "refine"

    def after_approve(state: AgentState) -> str:
        if state.get("stop_reason"):
            return "refine"
        return "validate"  # an edited program is checked again; an approved one passes straight on

    def after_decide(state: AgentState) -> str:
        verdict = state["verdicts"][-1]
        if verdict.verdict == "CONTINUE" and state["round"] <= limits.max_rounds and not nodes["over_budget"](state):
            return "plan"
        return "refine"

    graph.add_edge(START, "plan")
    graph.add_edge("plan", "validate")
    graph.add_conditional_edges("validate", after_validate, ["plan", "approve", "execute", "refine"])
    graph.add_conditional_edges("approve", after_approve, ["validate", "refine"])
    graph.add_edge("execute", "decide")
    graph.add_conditional_edges("decide", after_decide, ["plan", "refine"])
    graph.add_edge("refine", "verify")
    if services.corrector is not None:  # AgentConfig(correct_answers=True): answers are checked and corrected
        graph.add_node("correct", nodes["correct"])
        graph.add_edge("verify", "correct")
        graph.add_edge("correct", END)
    else:
        graph.add_edge("verify", END)
    return graph.compile(checkpointer=checkpointer)
