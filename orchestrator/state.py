"""The agent's graph state: references and results only, never raw pixels."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, Field
from visorch.tools.detections import BoxRecord


class ProgramAttempt(BaseModel):
    """One program the controller wrote, and what became of it."""

    round: int
    source: str
    valid: bool
    issues: list[str] = Field(default_factory=list)
    """Validation problems (invalid programs are never executed)."""
    ok: bool | None = None
    """Whether execution produced a result (None when not executed)."""
    result: str | None = None
    evidence: str | None = None
    error: str | None = None
    trace_id: str | None = None
    seconds: float = 0.0


class Verdict(BaseModel):
    """The decision-maker's structured judgement after an execution."""

    verdict: Literal["ANSWER", "CONTINUE"]
    reason: str = Field(default="", max_length=400)
    missing: str = Field(default="", max_length=400)
    """For CONTINUE: what is missing or doubtful, and what to try instead."""
    by_rule: bool = False
    """True when the verdict followed from a rule (a failed program, or confident evidence of the question's
    own form: then the answer followed by rule too), not from the LLM."""
    program: str | None = None
    """For CONTINUE by rule: the program the next round runs, with no planner call (the same program looking
    closer after weak EXISTS / HOW_MANY evidence, see visorch.roles.decision.look_again)."""


class GroundedBox(BoxRecord):
    """A box the answer relies on, in the coordinates of the input image it came from."""

    image: str
    """The input's name (IMAGE, IMAGE2, ...)."""
    step: str


class AgentState(TypedDict, total=False):
    """Everything the graph carries between nodes (and checkpoints)."""

    question: str
    inputs: dict[str, Any]
    """Input values: ImageRef / AudioRef references and text, never pixels."""
    round: int
    plan_attempts: int
    program: str | None
    issues: list[str]
    attempts: Annotated[list[ProgramAttempt], operator.add]
    verdicts: Annotated[list[Verdict], operator.add]
    draft_answer: str | None
    answer_trace_id: str | None
    """The trace the answer rests on (chosen once, by refine): its text, boxes, evidence and HTML read only it."""
    answer: str | None
    boxes: list[GroundedBox]
    corrections: list[str]
    stop_reason: str | None
    approved_program: str | None
    """The program text a person approved (when plans need approval)."""
    llm_seconds: Annotated[float, operator.add]
    llm_calls: Annotated[int, operator.add]
    model_seconds: Annotated[float, operator.add]
    """Tool time: wall time with at least one step running."""
    selection_seconds: Annotated[float, operator.add]
    """Choosing the planner's worked examples."""
    prompt_seconds: Annotated[float, operator.add]
    """Building prompts and grammars, plan-cache lookups, waiting for the LLM: orchestration."""
    prefill_seconds: Annotated[float, operator.add]
    decode_seconds: Annotated[float, operator.add]
    executor_seconds: Annotated[float, operator.add]
    """The executor's own work around the tool steps: orchestration."""
    plan_cache_hits: Annotated[int, operator.add]
    tool_calls: Annotated[int, operator.add]
    """Program steps whose tool ran (not answered from the result cache, not restored from the run journal)."""
    tool_cache_hits: Annotated[int, operator.add]
    steps_restored: Annotated[int, operator.add]
    """Steps that had finished before a crash and were taken from the run journal on resume."""
    started_at: float
