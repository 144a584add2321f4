"""The agent API: ``Agent(config).ask(image=..., question=...) -> Answer``.

One Agent holds a runtime (tools and models), an LLM backend for its three roles and a compiled
LangGraph graph checkpointed to SQLite, so a run can be resumed by its thread id, also in another
process after a crash: the run journal beside the checkpoints (:mod:`visorch.run_journal`) keeps
each finished step and trace, so a resumed run repeats no finished tool call and still has its
grounded boxes, evidence and HTML.
"""

from __future__ import annotations

import asyncio
import html
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from visorch.config import AgentSettings, VisorchSettings
from visorch.correction import Corrector
from visorch.examples import ExampleSelector, load_examples, usable_examples
from visorch.graph import build_graph
from visorch.live import LiveStore
from visorch.llm import LLMBackend, LLMSettings, create_backend
from visorch.llm.llama_cpp_backend import default_gguf_path
from visorch.llm.roles import RoleBackends
from visorch.nodes import AgentServices
from visorch.plan_cache import PlanCache
from visorch.programs.trace import Trace
from visorch.programs.trace_html import html_page, render_trace_fragment, scoped_fragment
from visorch.run_journal import RunJournal, open_checkpoint_database
from visorch.runtime import Runtime
from visorch.state import GroundedBox, ProgramAttempt, Verdict
from visorch.tools.drawing import annotate
from visorch.tools.errors import InputError, VisorchError
from visorch.tools.fusion.tools import FUSED_TOOLS
from visorch.tools.images import ImageRef
from visorch.tools.rendering import image_tag

_STATE_TYPES = [
    ("visorch.tools.images", "ImageRef"),
    ("visorch.tools.audio", "AudioRef"),
    ("visorch.state", "ProgramAttempt"),
    ("visorch.state", "Verdict"),
    ("visorch.state", "GroundedBox"),
]
"""The only classes the checkpointer may rebuild from a checkpoint (LangGraph's msgpack allowlist)."""


class AgentConfig(AgentSettings):
    """How the agent runs: the loop settings (:class:`AgentSettings`) and the LLM backend of its roles."""

    llm: LLMSettings = Field(default_factory=LLMSettings)

    @classmethod
    def from_settings(cls, settings: VisorchSettings) -> AgentConfig:
        """The settings' [agent] and [llm] sections, each already resolved (arguments > environment > file)."""
        return cls(**dict(settings.agent), llm=settings.llm)


class Timings(BaseModel):
    """Where the time of one question went."""

    total_s: float
    llm_s: float
    model_s: float
    """Wall time with at least one tool step running."""
    orchestration_s: float
    """Everything else: the graph, validation, prompt and grammar building, the executor's own work,
    bookkeeping. Not clamped: negative only when overlapping questions share the machine's time."""
    llm_calls: int
    selection_s: float = 0.0
    """Choosing the planner's worked examples."""
    prompt_s: float = 0.0
    """Of orchestration: building prompts and grammars, plan-cache lookups, waiting for the LLM."""
    prefill_s: float = 0.0
    """Of LLM time: evaluating prompt tokens."""
    decode_s: float = 0.0
    """Of LLM time: generating tokens (sampling under the grammar included)."""
    executor_s: float = 0.0
    """Of orchestration: the executor's work around the tool steps."""
    plan_cache_hits: int = 0
    tool_calls: int = 0
    """Program steps whose tool ran (not answered from the result cache, not restored from the run journal);
    after a crash, the completed nodes' calls (those of the interrupted program before it are in steps_restored)."""
    tool_cache_hits: int = 0
    steps_restored: int = 0
    """Steps that had finished before a crash, taken from the run journal when the run resumed."""


class AgentInterrupted(VisorchError):
    """The run paused for plan approval; continue it with ``Agent.resume(thread_id, ...)``."""

    def __init__(self, thread_id: str, program: str | None) -> None:
        self.thread_id = thread_id
        self.program = program
        super().__init__(f"the plan awaits approval (thread {thread_id}); call agent.resume({thread_id!r}, True)")


class Answer(BaseModel):
    """The agent's answer with everything it rests on."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    question: str
    boxes: list[GroundedBox]
    programs: list[ProgramAttempt]
    verdicts: list[Verdict]
    evidence: str
    corrections: list[str]
    stop_reason: str
    timings: Timings
    thread_id: str
    trace: Trace | None = Field(default=None, exclude=True)
    """The live trace the answer rests on (the last program that produced a result, else the last that ran;
    None when nothing ran, or when the run was resumed where that trace is no longer held)."""

    def to_html(self) -> str:
        """The answer above the visual trace, as a standalone HTML page."""
        return html_page(self.html_fragment(), "visorch answer")

    def html_fragment(self) -> str:
        """The answer above the visual trace, as one element with its own scoped style (Jupyter, web pages)."""
        header = (
            f"<div class='answer'><b>Q:</b> {html.escape(self.question)}<br><b>A:</b> {html.escape(self.text)}"
            f"<div class='meta'>stopped: {html.escape(self.stop_reason)} · {len(self.programs)} program(s) · "
            f"{self.timings.total_s:.1f} s (LLM {self.timings.llm_s:.1f} s, "
            f"tools {self.timings.model_s:.1f} s)</div></div>"
        )
        if self.trace is None:
            return scoped_fragment(header)
        return render_trace_fragment(self.trace, title="visorch answer", heading=header + self._grounding_html())

    def grounding_images(self) -> dict[str, Image.Image]:
        """Each input image the answer rests on, with its grounded boxes drawn (input name -> picture)."""
        if self.trace is None or not self.boxes:
            return {}
        drawn = {}
        for name in dict.fromkeys(box.image for box in self.boxes):
            image = self.trace.inputs.get(name)
            if not isinstance(image, ImageRef):
                continue
            chosen = [box for box in self.boxes if box.image == name]
            detections = sv.Detections(xyxy=np.array([box.box for box in chosen], dtype=np.float32))
            labels = [f"{box.label} {box.score:.2f}" if box.score is not None else box.label for box in chosen]
            drawn[name] = annotate(image.pil(), detections, labels)
        return drawn

    def _grounding_html(self) -> str:
        """The boxes the answer rests on, drawn on their input images."""
        parts = [image_tag(picture, f"grounding on {name}") for name, picture in self.grounding_images().items()]
        if not parts:
            return ""
        return f"<div class='step'><div class='head'><h2>Grounded on</h2></div>{''.join(parts)}</div>"

    def save_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path``."""
        target = Path(path)
        target.write_text(self.to_html(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return self.html_fragment()

    def __str__(self) -> str:
        return self.text


class AgentEvent(BaseModel):
    """A streamed event: started (with the thread id), planned, invalid, step_started, step_finished, step_restored
    (a step taken from the run journal on resume), verdict, answer, interrupted, done."""

    event: str
    data: dict[str, Any] = Field(default_factory=dict)
    answer: Answer | None = None
    """Set on the final 'done' event."""


class Agent:
    """Answers questions about images (and audio) by planning, running and judging visual programs."""

    def __init__(
        self,
        config: AgentConfig | None = None,
        settings: VisorchSettings | None = None,
        llm: LLMBackend | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.runtime = runtime or Runtime.create(settings)
        settings = self.runtime.settings
        self.config = config or AgentConfig.from_settings(settings)
        if llm is None:
            llm_settings = self.config.llm
            if llm_settings.backend == "llama-cpp" and not llm_settings.model:
                llm_settings = llm_settings.model_copy(update={"model": str(default_gguf_path(settings.weights_root))})
            if llm_settings.prefix_state_dir is None:
                llm_settings = llm_settings.model_copy(update={"prefix_state_dir": settings.home / "llm-prefix-states"})
            llm = create_backend(llm_settings)
        self.llm = llm
        states = self.config.llm.prefix_state_dir or settings.home / "llm-prefix-states"
        role_settings = self.config.llm.model_copy(update={"prefix_state_dir": states})
        self.roles = RoleBackends(llm, role_settings, settings.weights_root)
        """The decision-maker's and refiner's own models (``llm.roles``); the others use ``llm``."""
        # The planner gets the installed tools its specs offer it (not LOAD: it must not open files by path).
        offered = self.runtime.registry.available(self.runtime.context).offered_to_planner()
        if not self.config.fused_experts:  # the single-detector agent: counts and existence by LOC + COUNT
            offered = offered.without(*FUSED_TOOLS)
        examples = usable_examples(load_examples(), offered)
        plan_cache = None
        if self.config.plan_cache:
            plan_cache = PlanCache(self.config.plan_cache_path or settings.home / "plan-cache.json", offered)
        self.services = AgentServices(
            runtime=self.runtime,
            llm=llm,
            registry=offered,
            selector=ExampleSelector(examples, self.runtime.context.models, self.config.example_selection),
            plan_cache=plan_cache,
            limits=self.config,
            corrector=Corrector(runtime=self.runtime, llm=llm) if self.config.correct_answers else None,
            roles=self.roles,
        )
        self.checkpoint_path = self.config.checkpoint_path or settings.home / "agent-checkpoints.sqlite"
        # a corrupt or locked file is reported and replaced by an in-memory database (runs then cannot resume)
        self._connection, self.checkpoints_persist = open_checkpoint_database(self.checkpoint_path)
        self.checkpointer = SqliteSaver(
            self._connection, serde=JsonPlusSerializer(allowed_msgpack_modules=_STATE_TYPES)
        )
        journal = RunJournal(self._connection, self.checkpointer.lock, where=str(self.checkpoint_path))
        self.services.journal = journal
        self.services.live = LiveStore(journal=journal)
        self.graph: CompiledStateGraph = build_graph(self.services, self.checkpointer)
        """The compiled LangGraph graph (serve it with LangGraph tooling if you like)."""

    def describe(self) -> dict[str, Any]:
        """What answers depend on, for reports: the LLM (backend, model, file size when local), the limits
        and, per capability offered to the planner, the backend used with its version and weights fingerprint."""
        model_file = Path(self.llm.model)
        llm: dict[str, Any] = {"backend": self.llm.name, "model": self.llm.model}
        if model_file.is_file():
            llm["model"] = model_file.name
            llm["model_bytes"] = model_file.stat().st_size
        models = self.runtime.context.models
        capabilities = sorted({t.spec.capability for t in self.services.registry if t.spec.capability})
        tools = {}
        for capability in capabilities:
            backend = models.backend_for(capability)
            tools[capability] = {
                "backend": backend.name,
                "version": backend.version,
                "device": models.device_for(backend),
                "result_version": models.result_version(capability),
            }
        return {"llm": llm, "tool_backends": tools, "config": self.config.model_dump(mode="json")}

    # --- asking --------------------------------------------------------------------------------

    def _initial_state(
        self, image: str | Path | None, question: str, audio: str | Path | None, images: dict[str, str | Path] | None
    ) -> dict[str, Any]:
        if not question or not question.strip():
            raise InputError("the question is empty")
        named_images = {"IMAGE": image} if image is not None else {}
        for name, path in (images or {}).items():
            named_images[name if name.startswith("IMAGE") else f"IMAGE_{name.upper()}"] = path
        if not named_images:
            raise InputError("give at least one image (image=... or images={...})")
        inputs = self.runtime.load_inputs(named_images, {"AUDIO": audio} if audio is not None else None, question)
        return {
            "question": question.strip(),
            "inputs": inputs,
            "round": 1,
            "plan_attempts": 0,
            "attempts": [],
            "verdicts": [],
            "llm_seconds": 0.0,
            "llm_calls": 0,
            "model_seconds": 0.0,
            "started_at": time.time(),
        }

    def ask(
        self,
        image: str | Path | None = None,
        question: str = "",
        audio: str | Path | None = None,
        images: dict[str, str | Path] | None = None,
        thread_id: str | None = None,
    ) -> Answer:
        """Answer ``question`` about ``image`` (and ``audio``/more ``images``); raises VisorchError subclasses."""
        return _final_answer(
            self.stream(image=image, question=question, audio=audio, images=images, thread_id=thread_id)
        )

    def stream(
        self,
        image: str | Path | None = None,
        question: str = "",
        audio: str | Path | None = None,
        images: dict[str, str | Path] | None = None,
        thread_id: str | None = None,
    ) -> Iterator[AgentEvent]:
        """Like :meth:`ask`, yielding events as they happen; the last one is 'answer' (or 'interrupted')."""
        state = self._initial_state(image, question, audio, images)
        yield from self._run(state, thread_id or uuid.uuid4().hex)

    def resume(self, thread_id: str, approval: bool | str = True) -> Iterator[AgentEvent]:
        """Continue a paused run (True/False approves/rejects its plan, a string replaces it) or one that a crash
        or a kill interrupted, also in a new process: it goes on from its last checkpoint, and the steps of an
        interrupted program that had finished are restored from the run journal, not run again. A run that had
        already finished gives its answer again."""
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        if not self.graph.get_state(config).values:
            where = str(self.checkpoint_path) if self.checkpoints_persist else "this process's in-memory checkpoints"
            raise InputError(
                f"no run with thread id {thread_id!r} in {where}; check the id (visorch ask prints it first). "
                "A run stopped before its first checkpoint has nothing to resume: ask the question again"
            )
        yield from self._run(Command(resume=approval), thread_id)

    def _run(self, graph_input: Any, thread_id: str) -> Iterator[AgentEvent]:
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 100}
        started = time.perf_counter()
        yield AgentEvent(event="started", data={"thread_id": thread_id, "resumed": isinstance(graph_input, Command)})
        # Runs of different threads may overlap (the LLM backends, the checkpointer and the model
        # manager serialise what must be serialised), so one question's tool time can overlap
        # another's LLM time.
        # durability="sync": each node's checkpoint is on disk before the next node starts, so a kill loses at
        # most the node it lands in (whose finished program steps the run journal still holds)
        parts: Iterator[Any] = self.graph.stream(
            graph_input, config, stream_mode=["custom", "updates"], durability="sync"
        )
        for mode, chunk in parts:
            if mode == "custom":
                yield AgentEvent(event=chunk.pop("event"), data=chunk)
            elif "__interrupt__" in chunk:
                payload = chunk["__interrupt__"][0].value
                yield AgentEvent(event="interrupted", data={"thread_id": thread_id, **payload})
                return
        values = self.graph.get_state(config).values
        answer = self._answer(values, thread_id, time.perf_counter() - started)
        yield AgentEvent(event="done", data={"text": answer.text, "thread_id": thread_id}, answer=answer)

    def _answer(self, values: dict[str, Any], thread_id: str, seconds: float) -> Answer:
        attempts: list[ProgramAttempt] = values.get("attempts", [])
        rests_on = values.get("answer_trace_id")
        chosen = next((a for a in attempts if rests_on and a.trace_id == rests_on), None)
        total = max(seconds, time.time() - values.get("started_at", time.time()))
        llm_s, model_s = values.get("llm_seconds", 0.0), values.get("model_seconds", 0.0)
        selection_s = values.get("selection_seconds", 0.0)
        return Answer(
            text=values.get("answer") or "",
            question=values["question"],
            boxes=values.get("boxes", []),
            programs=attempts,
            verdicts=values.get("verdicts", []),
            evidence=chosen.evidence or "" if chosen else "",
            corrections=values.get("corrections", []),
            stop_reason=values.get("stop_reason") or "unknown",
            timings=Timings(
                total_s=total,
                llm_s=llm_s,
                model_s=model_s,
                orchestration_s=total - llm_s - model_s - selection_s,
                llm_calls=values.get("llm_calls", 0),
                selection_s=selection_s,
                prompt_s=values.get("prompt_seconds", 0.0),
                prefill_s=values.get("prefill_seconds", 0.0),
                decode_s=values.get("decode_seconds", 0.0),
                executor_s=values.get("executor_seconds", 0.0),
                plan_cache_hits=values.get("plan_cache_hits", 0),
                tool_calls=values.get("tool_calls", 0),
                tool_cache_hits=values.get("tool_cache_hits", 0),
                steps_restored=values.get("steps_restored", 0),
            ),
            thread_id=thread_id,
            trace=self.services.live.trace(rests_on),
        )

    # --- async ---------------------------------------------------------------------------------

    async def aask(self, image: str | Path | None = None, question: str = "", **kwargs: Any) -> Answer:
        """:meth:`ask` without blocking the event loop."""
        return await asyncio.to_thread(self.ask, image, question, **kwargs)

    async def astream(
        self, image: str | Path | None = None, question: str = "", **kwargs: Any
    ) -> AsyncIterator[AgentEvent]:
        """:meth:`stream` as an async iterator (the graph runs in a worker thread)."""
        events: queue.Queue[AgentEvent | BaseException | None] = queue.Queue()

        def produce() -> None:
            try:
                for event in self.stream(image, question, **kwargs):
                    events.put(event)
            except BaseException as error:  # handed to the consumer, raised there
                events.put(error)
            finally:
                events.put(None)

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        while True:
            item = await asyncio.to_thread(events.get)
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Release the LLM, the models and the checkpoint database."""
        self.llm.close()
        self.roles.close()
        self.runtime.close()
        self._connection.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _final_answer(events: Iterator[AgentEvent]) -> Answer:
    last: AgentEvent | None = None
    for event in events:
        last = event
    if last is not None and last.event == "interrupted":
        raise AgentInterrupted(str(last.data.get("thread_id")), last.data.get("program"))
    if last is None or last.answer is None:
        raise VisorchError("the agent stopped without an answer")
    return last.answer


__all__ = ["Agent", "AgentConfig", "AgentEvent", "AgentInterrupted", "Answer", "Timings"]
