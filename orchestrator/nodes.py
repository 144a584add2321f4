"""The agent graph's nodes: small functions ``state -> partial state update``.

Services (the runtime, the LLM, the example selector, the live traces) are bound once when the
graph is built; routing decisions live in graph.py's conditional edges, not here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph.config import get_stream_writer
from langgraph.types import interrupt
from visorch.evidence import result_text, trace_evidence
from visorch.examples import ExampleSelector
from visorch.grounding import check_consistency, grounded_boxes
from visorch.llm import LLMBackend
from visorch.programs.errors import ProgramError, ProgramValidationError
from visorch.programs.executor import StepEvent
from visorch.programs.parser import parse_program
from visorch.programs.trace import Trace
from visorch.programs.validator import validate_program
from visorch.roles.controller import PlanRequest, plan_program
from visorch.roles.decision import decide, rule_verdict
from visorch.roles.refiner import refine_answer
from visorch.runtime import Runtime
from visorch.state import AgentState, ProgramAttempt
from visorch.tools.images import ImageRef
from visorch.tools.registry import ToolRegistry
from visorch.tools.types import VALUE_TYPES, ValueKind, kind_of_value

if TYPE_CHECKING:
    from visorch.correction import Corrector


@dataclass
class AgentLimits:
    """Bounds of the agent loop."""

    max_rounds: int = 3
    max_plan_attempts: int = 3
    max_steps: int = 10
    time_budget_s: float = 600.0
    examples: int = 3
    approve_plans: bool = False


@dataclass
class AgentServices:
    """What the nodes use; bound when the graph is built, never stored in the state."""

    runtime: Runtime
    llm: LLMBackend
    registry: ToolRegistry
    """The tools offered to the planner (installed ones only)."""
    selector: ExampleSelector
    limits: AgentLimits
    traces: dict[str, Trace] = field(default_factory=dict)
    """Live traces by id (pixels stay here, out of the checkpointed state)."""
    corrector: Corrector | None = None
    """Checks answers against the image (visorch.correction) when the config asks for it."""


def _emit(event: str, **data: Any) -> None:
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not running inside a graph stream
        return
    writer({"event": event, **data})


def _llm_update(seconds: float) -> dict[str, Any]:
    """LLM time is the wall time of the call: model loading and prompt-cache restores included."""
    return {"llm_seconds": seconds, "llm_calls": 1}


def describe_inputs(inputs: dict[str, Any]) -> dict[str, str]:
    """Input name -> a short description for the planner prompt."""
    described = {}
    for name, value in inputs.items():
        if isinstance(value, VALUE_TYPES):
            described[name] = value.describe()
        elif name != "QUESTION":
            described[name] = "text"
    return described


def tools_for(registry: ToolRegistry, inputs: dict[str, Any]) -> ToolRegistry:
    """The planner's tools for this question: those needing audio only when an audio input is given."""
    if any(kind_of_value(value) == ValueKind.AUDIO for value in inputs.values()):
        return registry
    needs_audio = [item.name for item in registry if any(p.kind == ValueKind.AUDIO for p in item.spec.params)]
    return registry.without(*needs_audio)


def make_nodes(services: AgentServices) -> dict[str, Any]:
    """The node functions of the agent graph, bound to ``services``."""
    limits = services.limits

    def plan(state: AgentState) -> dict[str, Any]:
        history = [attempt for attempt in state.get("attempts", []) if attempt.round < state["round"]]
        selecting = time.perf_counter()
        examples = services.selector.select(state["question"], limits.examples)
        embedding_seconds = time.perf_counter() - selecting  # an embedding model call: model time
        request = PlanRequest(
            question=state["question"],
            inputs=describe_inputs(state["inputs"]),
            examples=examples,
            history=[a for a in history if a.valid],
            verdicts=state.get("verdicts", []),
            issues=state.get("issues", []),
            rejected=state.get("program") if state.get("issues") else None,
        )
        calling = time.perf_counter()
        program, _ = plan_program(
            services.llm, tools_for(services.registry, state["inputs"]), request, limits.max_steps
        )
        seconds = time.perf_counter() - calling
        _emit("planned", round=state["round"], program=program, llm_seconds=seconds)
        return {
            "program": program,
            "plan_attempts": state.get("plan_attempts", 0) + 1,
            "model_seconds": embedding_seconds,
            **_llm_update(seconds),
        }

    def validate(state: AgentState) -> dict[str, Any]:
        program = state.get("program") or ""
        try:
            validated = validate_program(parse_program(program), services.registry, state["inputs"])
            steps = len(validated.steps) - 1
            issues = (
                [] if steps <= limits.max_steps else [f"the program has {steps} steps; use at most {limits.max_steps}"]
            )
        except ProgramValidationError as error:
            issues = [str(issue) for issue in error.issues]
        except ProgramError as error:
            issues = [str(error)]
        if not issues:
            executed = {a.source.strip() for a in state.get("attempts", []) if a.valid and a.trace_id}
            if program.strip() in executed:
                _emit("repeated", round=state["round"], program=program)
                return {"issues": [], "stop_reason": "the planner repeated a program it had already run"}
            return {"issues": []}
        _emit("invalid", round=state["round"], program=program, issues=issues)
        attempt = ProgramAttempt(round=state["round"], source=program, valid=False, issues=issues)
        return {"issues": issues, "attempts": [attempt]}

    def approve(state: AgentState) -> dict[str, Any]:
        # Resume with True (run it), False (stop) or edited program text (validated again first).
        reply = interrupt({"question": state["question"], "program": state.get("program")})
        if isinstance(reply, str) and reply.strip():
            return {"program": reply.strip(), "approved_program": reply.strip()}
        if reply:
            return {"approved_program": state.get("program")}
        return {"approved_program": None, "stop_reason": "the plan was rejected"}

    def execute(state: AgentState) -> dict[str, Any]:
        program = state.get("program") or ""

        def forward(event: StepEvent) -> None:
            record = event.record
            _emit(f"step_{event.kind}", target=record.target, tool=record.tool, status=record.status.value,
                  seconds=record.duration_s, error=record.error)  # fmt: skip

        trace = services.runtime.run_program(program, dict(state["inputs"]), on_event=forward)
        trace_id = uuid.uuid4().hex
        services.traces[trace_id] = trace
        attempt = ProgramAttempt(
            round=state["round"], source=program, valid=True, ok=trace.ok, result=result_text(trace),
            evidence=trace_evidence(trace, services.registry), error=trace.error, trace_id=trace_id,
            seconds=trace.duration_s,
        )  # fmt: skip
        return {"attempts": [attempt], "model_seconds": trace.busy_seconds}

    def decide_node(state: AgentState) -> dict[str, Any]:
        attempt = state["attempts"][-1]
        verdict = rule_verdict(attempt)
        update: dict[str, Any] = {}
        if verdict is None:
            calling = time.perf_counter()
            verdict, _ = decide(services.llm, state["question"], attempt, state["round"], limits.max_rounds)
            update.update(_llm_update(time.perf_counter() - calling))
        _emit("verdict", round=state["round"], verdict=verdict.verdict, reason=verdict.reason, missing=verdict.missing)
        update.update({"verdicts": [verdict], "round": state["round"] + 1, "plan_attempts": 0, "issues": []})
        return update

    def refine(state: AgentState) -> dict[str, Any]:
        calling = time.perf_counter()
        answer, _ = refine_answer(services.llm, state["question"], state.get("attempts", []))
        return {"draft_answer": answer, **_llm_update(time.perf_counter() - calling)}

    def verify(state: AgentState) -> dict[str, Any]:
        answer = state.get("draft_answer") or ""
        executed = [a for a in state.get("attempts", []) if a.ok and a.trace_id in services.traces]
        corrections: list[str] = []
        boxes = []
        if executed:
            trace = services.traces[executed[-1].trace_id or ""]
            answer, corrections = check_consistency(answer, trace.result, state["question"])
            boxes = grounded_boxes(trace, state["inputs"])
        _emit("answer", answer=answer, corrections=corrections)
        return {"answer": answer, "corrections": corrections, "boxes": boxes, "stop_reason": stop_reason(state)}

    def stop_reason(state: AgentState) -> str:
        if state.get("stop_reason"):
            return str(state["stop_reason"])
        verdicts = state.get("verdicts", [])
        if verdicts and verdicts[-1].verdict == "ANSWER":
            return "answered"
        if state.get("issues"):
            return f"no valid program after {limits.max_plan_attempts} attempts"
        if over_budget(state):
            return f"time budget of {limits.time_budget_s:g} s used up"
        return f"reached the limit of {limits.max_rounds} rounds"

    def over_budget(state: AgentState) -> bool:
        return time.time() - state.get("started_at", time.time()) > limits.time_budget_s

    def correct(state: AgentState) -> dict[str, Any]:
        answer, image = state.get("answer") or "", state["inputs"].get("IMAGE")
        if services.corrector is None or not answer or not isinstance(image, ImageRef):
            return {}
        correction = services.corrector.correct(image, answer)
        notes = [f"correction {claim.id} {claim.verdict}: {claim.statement} ({claim.finding})"
                 for claim in correction.claims if claim.verdict != "supported"]  # fmt: skip
        update: dict[str, Any] = {"corrections": [*state.get("corrections", []), *notes],
                                  "llm_calls": correction.llm_calls,
                                  "llm_seconds": sum(stage.llm_seconds for stage in correction.stages)}  # fmt: skip
        if correction.rewrite in ("llm", "claim-by-claim"):
            update["answer"] = correction.corrected_plain or answer
        _emit("corrected", answer=update.get("answer", answer), verdicts=correction.verdicts())
        return update

    return {
        "plan": plan, "validate": validate, "approve": approve, "execute": execute, "decide": decide_node,
        "refine": refine, "verify": verify, "correct": correct, "over_budget": over_budget,
    }  # fmt: skip
