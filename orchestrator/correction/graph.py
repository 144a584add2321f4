"""The five stages as a LangGraph subgraph: concepts -> questions -> validation -> claims -> correction.

Each node is a small function ``state -> partial update`` that appends its :class:`StageRecord` to
the trace; services (runtime, LLM, settings) are bound when the graph is built.
"""

from __future__ import annotations

import itertools
import operator
import time
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from visorch.correction.claims import knowledge_base, make_claims
from visorch.correction.concepts import extract_concepts, lexical_scan_covers
from visorch.correction.config import CorrectionConfig
from visorch.correction.questions import ValidationPlan, plan_questions
from visorch.correction.rewrite import Rewrite, correct_text
from visorch.correction.types import Claim, Concept, StageRecord
from visorch.correction.validation import Findings, run_validation
from visorch.llm import LLMBackend
from visorch.programs.trace import Trace
from visorch.runtime import Runtime
from visorch.tools.capability import Capability
from visorch.tools.detection.backends import OPEN_VOCABULARY
from visorch.tools.images import ImageRef
from visorch.tools.vocabulary import COCO_CLASSES


class CorrectionState(TypedDict, total=False):
    """What flows between the stages (in-process only: the subgraph has no checkpointer)."""

    text: str
    image: ImageRef
    concepts: list[Concept]
    plan: ValidationPlan
    trace: Trace | None
    findings: Findings
    knowledge: list[str]
    claims: list[Claim]
    rewrite: Rewrite
    notes: Annotated[list[str], operator.add]
    stages: Annotated[list[StageRecord], operator.add]


def detector_classes(runtime: Runtime) -> list[str]:
    """The class names of the detector LOC uses here (COCO's when it declares none)."""
    models = runtime.context.models
    if models.has_installed(Capability.DETECTION):
        declared = models.backend_for(Capability.DETECTION).extra.get("classes")
        if declared:
            return list(declared)
    return list(COCO_CLASSES)


def has_open_vocabulary(runtime: Runtime) -> bool:
    """Whether an installed detector finds any named object (then LOC checks names outside the classes)."""
    models = runtime.context.models
    return any(
        b.extra.get(OPEN_VOCABULARY) and models.not_installed_reason(b.name) is None
        for b in models.backends(Capability.DETECTION)
    )


@dataclass
class CorrectionServices:
    """What the stages use."""

    runtime: Runtime
    llm: LLMBackend | None
    config: CorrectionConfig


def build_correction_graph(services: CorrectionServices) -> CompiledStateGraph:
    """Compile the five-stage correction subgraph."""
    config = services.config
    runtime = services.runtime

    def concepts(state: CorrectionState) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        classes = detector_classes(runtime)
        lexical = config.concepts == "lexical" or (
            config.concepts == "auto" and lexical_scan_covers(state["text"], has_open_vocabulary(runtime))
        )
        found = extract_concepts(None if lexical else services.llm, state["text"], classes)
        summary = (
            ", ".join(
                f"{c.count if c.count is not None else '?'} {c.name}"
                + (f" [{c.detector_class}]" if c.detector_class else "")
                + (f" {c.colour}" if c.colour else "")
                + (f" reads '{c.reads}'" if c.reads else "")
                + (f" {c.relation} {c.relation_to}" if c.relation else "")
                + ("" if c.source == "llm" else " (lexical)")
                for c in found.concepts
            )
            or "no objects"
        )
        detail = {"llm_reply": found.reply, "dropped_not_in_text": found.dropped, "added_by_lexical_scan": found.added}
        stage = StageRecord(
            name="key concepts",
            seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu,
            llm_calls=found.llm_calls,
            llm_seconds=found.llm_seconds,
            summary=summary,
            detail=detail,
        )
        notes = [found.error] if found.error else []
        if lexical and config.concepts == "auto" and services.llm is not None:
            notes.append(
                f"key concepts from the lexical scan of the detector's {len(classes)} classes (the text names no "
                "written text or relative position, which need the LLM): other objects it names are not checked"
            )
        if found.dropped:
            notes.append(f"the LLM named {', '.join(found.dropped)}, which the text does not say; ignored")
        return {"concepts": found.concepts, "stages": [stage], "notes": notes}

    def questions(state: CorrectionState) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        available = {item.name for item in runtime.registry.available(runtime.context)}
        plan = plan_questions(
            state["concepts"],
            available,
            min(config.existence_min_score, config.count_min_score, config.uncertain_min_score),
            has_open_vocabulary(runtime),
        )
        unanswerable = [q.text for q in plan.questions if q.step is None]
        summary = f"{len(plan.questions)} question(s), {len(unanswerable)} no installed tool can answer"
        stage = StageRecord(
            name="questions",
            seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu,
            summary=summary,
            detail=[q.model_dump() for q in plan.questions],
        )
        return {"plan": plan, "stages": [stage]}

    def validation(state: CorrectionState) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        classes = {c.name: c.detector_class for c in state["concepts"] if c.detector_class}
        trace, findings = run_validation(
            runtime, state["image"], state["plan"], config.existence_min_score, config.merge_iou,
            config.uncertain_min_score, config.second_opinion, classes, config.second_look, config.absent_at_most,
            config.recheck_below,
        )  # fmt: skip
        steps = len(trace.steps) - 1 if trace is not None else 0
        cached = sum(record.cached for record in trace.steps) if trace is not None else 0
        failed = len(trace.failed_steps) if trace is not None else 0
        summary = f"{steps} step(s) in one program, {cached} from the result cache, {failed} failed"
        for concept, (backend, score) in findings.second_opinion.items():
            summary += f"; unsure {concept}: {backend} says {score:.2f}"
        for concept, look in findings.second_look.items():
            summary += f"; looked again at {concept}: {look.describe(concept)}"
        stage = StageRecord(
            name="visual validation",
            seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu,
            summary=summary,
            detail={"program": state["plan"].source},
        )
        return {"trace": trace, "findings": findings, "stages": [stage]}

    def claims(state: CorrectionState) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        found = make_claims(state["concepts"], state["findings"], config)
        knowledge = knowledge_base(state["concepts"], state["findings"])
        counts = {v: sum(c.verdict == v for c in found) for v in ("supported", "corrected", "removed", "unverified")}
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no claims"
        stage = StageRecord(name="claims", seconds=time.perf_counter() - started,
                            cpu_seconds=time.process_time() - cpu, summary=summary, detail=knowledge)  # fmt: skip
        return {"claims": found, "knowledge": knowledge, "stages": [stage]}

    def correction(state: CorrectionState) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        result = correct_text(
            services.llm,
            state["text"],
            state["concepts"],
            state["claims"],
            state["knowledge"],
            mode=config.rewrite,
            max_boxes=config.max_boxes_inline,
        )
        summary = result.method + (f" (LLM rewrite rejected: {'; '.join(result.problems)})" if result.problems else "")
        stage = StageRecord(
            name="correction",
            seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu,
            llm_calls=result.llm_calls,
            llm_seconds=result.llm_seconds,
            summary=summary,
            detail={"llm_reply": result.llm_reply},
        )
        return {"rewrite": result, "stages": [stage]}

    graph = StateGraph(CorrectionState)
    order = [
        ("concepts", concepts),
        ("questions", questions),
        ("validation", validation),
        ("claims", claims),
        ("correction", correction),
    ]
    for name, node in order:
        graph.add_node(name, node)
    graph.add_edge(START, "concepts")
    for (first, _), (second, _) in itertools.pairwise(order):
        graph.add_edge(first, second)
    graph.add_edge("correction", END)
    return graph.compile()
