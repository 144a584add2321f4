"""The agent graph's nodes: small functions ``state -> partial state update``.

Services (the runtime, the LLM, the example selector, the live traces) are bound once when the
graph is built; routing decisions live in graph.py's conditional edges, not here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.types import interrupt
from visorch.config import AgentSettings
from visorch.correction.answers import answer_claim, corrected_answer, states_the_answer
from visorch.dictated_answers import dictating, read_texts, withhold
from visorch.evidence import result_text, trace_evidence
from visorch.examples import ExampleSelector
from visorch.grounding import check_consistency, grounded_boxes
from visorch.live import LiveStore
from visorch.llm import LLMBackend, LLMResponse
from visorch.llm.roles import RoleBackends
from visorch.plan_cache import PlanCache
from visorch.programs.errors import ProgramError, ProgramValidationError
from visorch.programs.executor import StepEvent
from visorch.programs.parser import parse_program
from visorch.programs.trace import StepStatus
from visorch.programs.validator import ValidatedProgram, validate_program
from visorch.roles.calibrated_rewrite import calibrated_rewrite
from visorch.roles.controller import PlanRequest, plan_program
from visorch.roles.decision import decide, look_again, rule_verdict
from visorch.roles.refiner import CANNOT_TELL, refine_answer
from visorch.roles.rules import rule_answer
from visorch.roles.verdict_answer import decide_with_answer
from visorch.run_journal import RunJournal, run_key
from visorch.runtime import Runtime
from visorch.state import AgentState, ProgramAttempt
from visorch.tools.images import ImageRef
from visorch.tools.quoting import quote_text
from visorch.tools.registry import ToolRegistry
from visorch.tools.types import VALUE_TYPES, ValueKind, kind_of_value

if TYPE_CHECKING:
    from visorch.correction import Corrector
    from visorch.programs.trace import Trace


@dataclass
class AgentServices:
    """What the nodes use; bound when the graph is built, never stored in the state."""

    runtime: Runtime
    llm: LLMBackend
    registry: ToolRegistry
    """The tools offered to the planner (installed ones only)."""
    selector: ExampleSelector
    limits: AgentSettings
    """The loop's bounds and switches (the agent's own config, not a copy)."""
    live: LiveStore = field(default_factory=LiveStore)
    """Validated programs and traces per thread, bounded (pixels stay here, out of the checkpointed state)."""
    plan_cache: PlanCache | None = None
    """Programs that answered, as templates; a matching question skips the planner."""
    corrector: Corrector | None = None
    """Checks answers against the image (visorch.correction) when the config asks for it."""
    journal: RunJournal | None = None
    """Finished steps and traces beside the checkpoints, so a resumed run repeats no finished tool call."""
    roles: RoleBackends | None = None
    """The decision-maker's and the refiner's backends when the config gives them models of their own."""

    def llm_for(self, role: Literal["decision", "refiner"]) -> LLMBackend:
        """The backend ``role`` calls: its own model when the config names one, else the planner's."""
        return self.roles.for_role(role) if self.roles is not None else self.llm


def _emit(event: str, **data: Any) -> None:
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not running inside a graph stream
        return
    writer({"event": event, **data})


def _llm_update(response: LLMResponse, seconds: float) -> dict[str, Any]:
    """Where one LLM call's wall time went: the model's work (loading, prefill, decode, as the backend
    measured them) is LLM time; the rest (the role's prompt and grammar, the chat template, waiting for
    the model) is prompt time, which is orchestration."""
    prefill, decode = response.prefill_seconds, response.decode_seconds
    if prefill + decode <= 0:  # a backend that does not split its time: all it reports is model time
        decode = response.seconds - response.prepare_seconds
    model = response.load_seconds + prefill + decode
    return {
        "llm_seconds": model, "llm_calls": 1, "prefill_seconds": prefill, "decode_seconds": decode,
        "prompt_seconds": seconds - model,
    }  # fmt: skip


def _input_names(inputs: dict[str, Any]) -> list[str]:
    return sorted(name for name in inputs if name != "QUESTION")


def describe_inputs(inputs: dict[str, Any]) -> dict[str, str]:
    """Input name -> its kind for the planner prompt ("image", "audio", "text"), as the worked examples write it.

    Sizes and durations are left out: the planner plans nothing with them, and whoever made the file chooses
    them (an injected sentence made a recording longer, and its "audio 4.1 s" turned the planner's program)."""
    described = {}
    for name, value in inputs.items():
        if isinstance(value, VALUE_TYPES):
            described[name] = kind_of_value(value).value
        elif name != "QUESTION":
            described[name] = ValueKind.TEXT.value
    return described


def tools_for(registry: ToolRegistry, inputs: dict[str, Any]) -> ToolRegistry:
    """The planner's tools for this question: those needing audio only when an audio input is given."""
    if any(kind_of_value(value) == ValueKind.AUDIO for value in inputs.values()):
        return registry
    needs_audio = [item.name for item in registry if any(p.kind == ValueKind.AUDIO for p in item.spec.params)]
    return registry.without(*needs_audio)


def _thread_id(config: RunnableConfig) -> str:
    return str(config.get("configurable", {}).get("thread_id", ""))


def form_answer(question: str, trace: Trace) -> str | None:
    """The program's result as the answer when it has the question's own form (a count for "how many", yes/no
    for "is there"): the one rule verify applies (:func:`check_consistency`), so no refiner is needed."""
    if not trace.ok:
        return None
    answer, corrections = check_consistency("", trace.result, question)
    return answer if corrections else None


def answer_attempt(attempts: list[ProgramAttempt]) -> ProgramAttempt | None:
    """The executed attempt the answer rests on: the last that produced a result, else the last that ran."""
    executed = [attempt for attempt in attempts if attempt.trace_id]
    succeeded = [attempt for attempt in executed if attempt.ok]
    if succeeded:
        return succeeded[-1]
    return executed[-1] if executed else None


def make_nodes(services: AgentServices) -> dict[str, Any]:
    """The node functions of the agent graph, bound to ``services``."""
    limits = services.limits

    def check(program: str, inputs: dict[str, Any]) -> ValidatedProgram:
        """The one parse and validation of a program, against the tools offered to the planner."""
        return validate_program(parse_program(program), services.registry, inputs)

    def calibrated(program: str, state: AgentState) -> tuple[str, str | None]:
        """The program to run (a LOC + COUNT count on HOW_MANY / EXISTS when switched on) and the rewrite's note."""
        if not limits.calibrated_rewrite:
            return program, None
        offered = tools_for(services.registry, state["inputs"])
        rewrite = calibrated_rewrite(program, state["question"], offered, state["inputs"])
        return (program, None) if rewrite is None else (rewrite.source, rewrite.note)

    def plan(state: AgentState) -> dict[str, Any]:
        first_try = state["round"] == 1 and not state.get("plan_attempts") and not state.get("issues")
        verdicts = state.get("verdicts", [])
        if verdicts and verdicts[-1].program and not state.get("plan_attempts") and not state.get("issues"):
            ruled = verdicts[-1].program  # the decision rule planned this round (a closer look): no planner call
            _emit("planned", round=state["round"], program=ruled, llm_seconds=0.0, by_rule=True)
            return {"program": ruled, "plan_attempts": 1}
        if services.plan_cache is not None and first_try:
            looking = time.perf_counter()
            cached = services.plan_cache.lookup(state["question"], _input_names(state["inputs"]))
            if cached is not None:  # a template stored before the rewrite (or with it off) is rewritten too
                cached, note = calibrated(cached, state)
                seconds = time.perf_counter() - looking
                _emit("planned", round=state["round"], program=cached, llm_seconds=0.0, from_cache=True,
                      rewritten=note)  # fmt: skip
                return {"program": cached, "plan_attempts": 1, "plan_cache_hits": 1, "prompt_seconds": seconds}
        history = [attempt for attempt in state.get("attempts", []) if attempt.round < state["round"]]
        selecting = time.perf_counter()
        examples = services.selector.select(state["question"], limits.examples)
        selection_seconds = time.perf_counter() - selecting
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
        program, response = plan_program(
            services.llm, tools_for(services.registry, state["inputs"]), request, limits.max_steps
        )
        seconds = time.perf_counter() - calling
        program, note = calibrated(program, state)
        _emit("planned", round=state["round"], program=program, llm_seconds=seconds, rewritten=note)
        return {
            "program": program,
            "plan_attempts": state.get("plan_attempts", 0) + 1,
            "selection_seconds": selection_seconds,
            **_llm_update(response, seconds),
        }

    def validate(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        program = state.get("program") or ""
        try:
            # an approved program comes back here unchanged: its validation is reused, not repeated
            validated = services.live.validated(_thread_id(config), program) or check(program, state["inputs"])
            services.live.put_validated(_thread_id(config), program, validated)
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

    def execute(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        program = state.get("program") or ""
        # validate put it there; a run resumed in another process validates once more (deterministic)
        validated = services.live.validated(_thread_id(config), program) or check(program, state["inputs"])
        # Steps of this same execution that finished before a crash come back from the journal, not run again.
        thread, journal, key = _thread_id(config), services.journal, run_key(state, program)
        restored = journal.finished_steps(thread, key) if journal is not None else {}

        def forward(event: StepEvent) -> None:
            record = event.record
            if event.kind == "finished" and journal is not None:
                journal.record_step(thread, key, record)  # before anything else hears of it
            _emit(f"step_{event.kind}", target=record.target, tool=record.tool, status=record.status.value,
                  seconds=record.duration_s, error=record.error)  # fmt: skip

        running = time.perf_counter()
        trace = services.runtime.execute(validated, dict(state["inputs"]), on_event=forward, restored=restored)
        # scheduling and bookkeeping around the tool steps (the program was validated earlier)
        executor_seconds = time.perf_counter() - running - trace.busy_seconds
        trace_id = services.live.add_trace(thread, trace, f"{thread}:{key}" if journal is not None else None)
        finished = [record for record in trace.steps if record.status in (StepStatus.OK, StepStatus.FAILED)]
        attempt = ProgramAttempt(
            round=state["round"], source=program, valid=True, ok=trace.ok, result=result_text(trace),
            evidence=trace_evidence(trace, services.registry), error=trace.error, trace_id=trace_id,
            seconds=trace.duration_s,
        )  # fmt: skip
        return {
            "attempts": [attempt], "model_seconds": trace.busy_seconds, "executor_seconds": executor_seconds,
            "tool_calls": sum(not record.cached and not record.restored for record in finished),
            "tool_cache_hits": sum(record.cached and not record.restored for record in finished),
            "steps_restored": sum(record.restored for record in finished),
        }  # fmt: skip

    def decide_node(state: AgentState) -> dict[str, Any]:
        attempt = state["attempts"][-1]
        verdict = rule_verdict(attempt)
        update: dict[str, Any] = {}
        trace = services.live.trace(attempt.trace_id)
        if verdict is None and limits.rule_answers and trace is not None:
            ruled = rule_answer(state["question"], trace, limits.rule_min_score)
            if ruled is not None:
                verdict = ruled.verdict
                update["draft_answer"] = ruled.answer
        if verdict is None and limits.rule_answers and state["round"] < limits.max_rounds:
            verdict = look_again(attempt, trace)  # weak EXISTS / HOW_MANY evidence: the same program, closer
        if verdict is None:
            calling = time.perf_counter()
            judge = services.llm_for("decision")
            if limits.verdict_answers and trace is not None and form_answer(state["question"], trace) is None:
                verdict, answer, response = decide_with_answer(
                    judge, state["question"], attempt, state["round"], limits.max_rounds
                )
                update["draft_answer"] = answer or ""  # with ANSWER, refine uses it instead of calling the refiner
            else:
                verdict, response = decide(judge, state["question"], attempt, state["round"], limits.max_rounds)
                update["draft_answer"] = ""  # the refiner writes it (none left from an earlier question of the thread)
            update.update(_llm_update(response, time.perf_counter() - calling))
        if verdict.verdict == "ANSWER" and attempt.ok and services.plan_cache is not None:
            source, earlier = attempt.source, state.get("verdicts", [])
            if earlier and earlier[-1].program == attempt.source and len(state["attempts"]) >= 2:
                source = state["attempts"][-2].source  # cache the plan, not the closer look the rule added
            services.plan_cache.store(state["question"], source, _input_names(state["inputs"]))
        _emit("verdict", round=state["round"], verdict=verdict.verdict, reason=verdict.reason, missing=verdict.missing,
              by_rule=verdict.by_rule)  # fmt: skip
        update.update({"verdicts": [verdict], "round": state["round"] + 1, "plan_attempts": 0, "issues": []})
        return update

    def refine(state: AgentState) -> dict[str, Any]:
        # From here on everything (answer text, boxes, evidence, HTML) reads the one trace named here.
        chosen = answer_attempt(state.get("attempts", []))
        trace = services.live.trace(chosen.trace_id) if chosen else None
        read = read_texts(trace) if trace is not None else []
        rests_on: dict[str, Any] = {"answer_trace_id": chosen.trace_id if chosen else None, "corrections": []}
        verdicts = state.get("verdicts", [])
        decided = state.get("draft_answer") if verdicts and verdicts[-1].verdict == "ANSWER" else None
        if decided and not dictating(decided, read):
            return rests_on  # decide set the answer: by rule, or the decision-maker wrote it with its verdict
        formed = form_answer(state["question"], trace) if limits.form_answers and trace is not None else None
        if formed is not None:  # the verify step would state the result whatever the refiner wrote
            return {"draft_answer": formed, **rests_on}
        if chosen is not None and trace is not None and not trace.ok:
            # no program produced its result: answer from what its finished steps established, if anything
            established = trace_evidence(trace, services.registry, finished_only=True)
            if not established:
                return {"draft_answer": CANNOT_TELL, **rests_on}
            chosen = chosen.model_copy(update={"evidence": established})
        calling = time.perf_counter()
        answer, response = refine_answer(services.llm_for("refiner"), state["question"], [chosen] if chosen else [])
        update = _llm_update(response, time.perf_counter() - calling)
        dictated = dictating(answer, read)
        if dictated and chosen is not None:  # read text told the reader this answer: ask without those sentences
            chosen = chosen.model_copy(update={"evidence": withhold(chosen.evidence or "", dictated)})
            calling = time.perf_counter()
            answer, response = refine_answer(services.llm_for("refiner"), state["question"], [chosen])
            again = _llm_update(response, time.perf_counter() - calling)
            update = {key: update[key] + again[key] for key in update}
            sentences = "; ".join(quote_text(reply.sentence, limit=120) for reply in dictated)
            rests_on["corrections"] = [f"the read text {sentences} tells the reader what to answer: ignored"]
            if dictating(answer, read):
                answer = CANNOT_TELL
        return {"draft_answer": answer, **rests_on, **update}

    def verify(state: AgentState) -> dict[str, Any]:
        answer = state.get("draft_answer") or ""
        trace = services.live.trace(state.get("answer_trace_id"))
        corrections: list[str] = []
        boxes = []
        if trace is not None and trace.ok:
            answer, corrections = check_consistency(answer, trace.result, state["question"])
            boxes = grounded_boxes(trace, state["inputs"])
        corrections = [*state.get("corrections", []), *corrections]  # the refiner's notes first
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
        # a short yes/no or count answer is checked as the claim it makes ("yes" -> "There is a dog.")
        claimed = answer_claim(state["question"], answer)
        correction = services.corrector.correct(image, claimed.statement if claimed else answer)
        notes = [f"correction {checked.id} {checked.verdict}: {checked.statement} ({checked.finding})"
                 for checked in correction.claims if checked.verdict != "supported"
                 and not (claimed is not None and states_the_answer(claimed, checked))]  # fmt: skip
        update: dict[str, Any] = {"corrections": [*state.get("corrections", []), *notes],
                                  "llm_calls": correction.llm_calls,
                                  "llm_seconds": sum(stage.llm_seconds for stage in correction.stages)}  # fmt: skip
        if claimed is not None:
            update["answer"] = corrected_answer(claimed, correction) or answer
        elif correction.rewrite in ("llm", "claim-by-claim"):
            update["answer"] = correction.corrected_plain or answer
        _emit("corrected", answer=update.get("answer", answer), verdicts=correction.verdicts())
        return update

    return {
        "plan": plan, "validate": validate, "approve": approve, "execute": execute, "decide": decide_node,
        "refine": refine, "verify": verify, "correct": correct, "over_budget": over_budget,
    }  # fmt: skip
