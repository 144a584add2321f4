"""``visorch app``: a Gradio web app over one shared runtime and agent.

Tabs:
- **Ask**: an image (and optionally audio) and a question; the page streams each stage as it
  happens (plans, steps, verdicts), then shows the answer, the grounded boxes drawn on the image,
  the program of each round, the verdicts and the whole visual trace.
- **Program**: pick a library program or type one; it is validated as you type and runs on the
  uploaded inputs, showing its result and trace.
- **Correct**: paste any model's caption about an image; every claim is checked with the tools and
  the text comes back corrected, mentions grounded with boxes, with a verdict per claim.

Models load once per app process and are shared by every visitor through the model manager.
Gradio's API stays on, so the same app serves ``gradio_client`` scripts (see README). Errors show
as a message on the page, never a stack trace.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from visorch.interfaces.mcp_server import SharedAgent
from visorch.programs.errors import ProgramError
from visorch.runtime import Runtime
from visorch.tools.errors import VisorchError

if TYPE_CHECKING:
    import gradio as gr
    from visorch.agent import Answer

TRACE_HEIGHT_PX = 720


def trace_frame(page: str) -> str:
    """A standalone HTML page (a trace) inside an iframe, so its styles stay its own."""
    return (
        f"<iframe title='visual trace' srcdoc=\"{html.escape(page, quote=True)}\" "
        f"style='width:100%;height:{TRACE_HEIGHT_PX}px;border:1px solid #8884;border-radius:6px'></iframe>"
    )


def error_message(error: Exception) -> str:
    """What the page shows for a failure: the typed error's own message, never a traceback."""
    if isinstance(error, VisorchError):
        return f"**Error:** {html.escape(str(error))}"
    return f"**Error:** something went wrong inside visorch ({type(error).__name__}); please report it"


def programs_markdown(answer: Answer) -> str:
    """Each program the planner wrote, by round, with what became of it."""
    blocks = []
    for attempt in answer.programs:
        state = "ran" if attempt.ok else ("failed" if attempt.ok is False else "invalid")
        note = f" — {'; '.join(attempt.issues)}" if attempt.issues else ""
        blocks.append(f"**Round {attempt.round}** ({state}){note}\n```\n{attempt.source.strip()}\n```")
    return "\n\n".join(blocks) or "_no program was written_"


def verdicts_markdown(answer: Answer) -> str:
    """The decision-maker's verdicts, one line each."""
    lines = []
    for index, verdict in enumerate(answer.verdicts, start=1):
        how = "by rule" if verdict.by_rule else "by the LLM"
        missing = f" Missing: {verdict.missing}" if verdict.missing else ""
        lines.append(f"{index}. **{verdict.verdict}** ({how}): {verdict.reason}{missing}")
    if answer.corrections:  # the answer's consistency check and, when configured, its claim verdicts
        lines += ["", "**Checked against the image:**", *(f"- {html.escape(note)}" for note in answer.corrections)]
    return "\n".join(lines) or "_no verdict_"


def progress_line(event: str, data: dict[str, Any]) -> str | None:
    """One line of the live progress log for an agent stream event."""
    if event == "planned":
        first = (data.get("program") or "").strip().splitlines()
        return f"round {data.get('round')}: planned {len(first)} line(s)"
    if event == "invalid":
        return f"round {data.get('round')}: invalid program, planning again"
    if event == "step_started":
        return f"… {data.get('target')} = {data.get('tool')}"
    if event == "step_finished":
        seconds = data.get("seconds") or 0.0
        status = data.get("status")
        mark = "✓" if status == "ok" else "✗"
        error = f" ({data.get('error')})" if data.get("error") else ""
        return f"{mark} {data.get('target')} = {data.get('tool')} {seconds:.2f}s{error}"
    if event == "verdict":
        return f"verdict: {data.get('verdict')} {data.get('reason') or ''}".rstrip()
    if event == "answer":
        return "answer written"
    return None


class WebApp:
    """The app's handlers over one runtime and one agent (both shared by every visitor)."""

    def __init__(self, runtime: Runtime, agent: SharedAgent) -> None:
        self.runtime = runtime
        self.agent = agent

    def ask(self, image: str | None, audio: str | None, question: str) -> Iterator[tuple[Any, ...]]:
        """Stream (status, answer, annotated image, programs, verdicts, trace) while the agent works."""
        log: list[str] = []
        if not image:
            yield ("**Error:** upload an image first", "", None, "", "", "")
            return
        if not question or not question.strip():
            yield ("**Error:** type a question", "", None, "", "", "")
            return
        try:
            agent = self.agent.get()
            yield ("loading models and planning…", "", None, "", "", "")
            for event in agent.stream(image=image, question=question, audio=audio or None):
                if event.answer is not None:
                    answer = event.answer
                    pictures = list(answer.grounding_images().values())
                    status = (
                        f"{answer.stop_reason} · {answer.timings.total_s:.1f} s "
                        f"(LLM {answer.timings.llm_s:.1f} s in {answer.timings.llm_calls} call(s))"
                    )
                    yield (
                        status,
                        answer.text,
                        pictures[0] if pictures else None,
                        programs_markdown(answer),
                        verdicts_markdown(answer),
                        trace_frame(answer.to_html()),
                    )
                    return
                line = progress_line(event.event, event.data)
                if line:
                    log.append(line)
                    yield ("\n\n".join(log[-12:]), "", None, "", "", "")
        except Exception as error:  # shown on the page; the app keeps serving
            yield (error_message(error), "", None, "", "", "")

    def preview(self, image: str | None) -> tuple[Any, str]:
        """(picture, status) for an uploaded file: the image itself, or why it cannot be read.

        Uploads arrive as plain files, so a corrupt or unsupported one is reported with visorch's own
        message instead of failing inside the upload widget.
        """
        if not image:
            return None, ""
        try:
            loaded = self.runtime.load_inputs({"IMAGE": image})["IMAGE"]
        except Exception as error:
            return None, error_message(error)
        return loaded.pil(), f"image {loaded.width}x{loaded.height}"

    def validate(self, source: str) -> str:
        """Check program text as it is typed: valid with its steps and inputs, or the error with its caret."""
        if not source.strip():
            return "_type a program, or pick one from the library_"
        try:
            validated = self.runtime.check(source)
        except ProgramError as error:
            return f"**Invalid:**\n```\n{error}\n```"
        except VisorchError as error:
            return error_message(error)
        inputs = ", ".join(f"{name} ({kind.value})" for name, kind in validated.inputs.items()) or "none"
        return f"**Valid:** {len(validated.steps)} steps; inputs: {inputs}; result: {validated.result}"

    def run_program(self, source: str, image: str | None, audio: str | None, question: str) -> tuple[str, str, str]:
        """(status, result, trace) of running program text on the uploaded inputs."""
        from visorch.tools.types import describe_value

        try:
            inputs = self.runtime.load_inputs(
                {"IMAGE": image} if image else None, {"AUDIO": audio} if audio else None, question or None
            )
            trace = self.runtime.run_program(source, inputs)
        except Exception as error:
            return error_message(error), "", ""
        status = f"ran in {trace.duration_s:.2f} s" if trace.ok else f"**Failed:** {html.escape(trace.error or '')}"
        result = describe_value(trace.result, limit=2000) if trace.ok else ""
        return status, result, trace_frame(trace.to_html(title="visorch program"))

    def correct(self, image: str | None, text: str) -> tuple[str, str, str, str]:
        """(status, corrected text, verdict per claim, trace) for any model's text about an image."""
        if not image:
            return "**Error:** upload an image first", "", "", ""
        if not text or not text.strip():
            return "**Error:** paste the text to check", "", "", ""
        try:
            correction = self.agent.corrector().correct(image, text)
        except Exception as error:
            return error_message(error), "", "", ""
        lines = [
            f"- **{claim.verdict}** {html.escape(claim.statement)}: {html.escape(claim.finding)}"
            + (f" → {html.escape(claim.fix)}" if claim.fix else "")
            for claim in correction.claims
        ]
        notes = "".join(f"\n\n_{html.escape(note)}_" for note in correction.notes)
        status = f"checked {len(correction.claims)} claim(s) in {correction.seconds:.1f} s{notes}"
        return (
            status,
            correction.corrected,
            "\n".join(lines) or "_no visual claim found_",
            trace_frame(correction.to_html()),
        )

    @staticmethod
    def library_source(name: str | None) -> str:
        """The text of a library program."""
        from visorch.programs.library import resolve_program

        return resolve_program(name)[0] if name else ""


def build_app(runtime: Runtime, agent: SharedAgent) -> gr.Blocks:
    """The Gradio Blocks app (not launched)."""
    import gradio as gr
    from visorch.programs.library import library_programs

    handlers = WebApp(runtime, agent)
    with gr.Blocks(title="visorch") as app:
        gr.Markdown("# visorch\nAsk about an image; see the programs, the evidence and the boxes the answer rests on.")
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = gr.File(label="Image", file_types=["image"], type="filepath", elem_id="ask-image")
                    preview = gr.Image(label="Preview", interactive=False, height=260, elem_id="ask-preview")
                    audio = gr.Audio(type="filepath", label="Audio (optional)", elem_id="ask-audio")
                    question = gr.Textbox(label="Question", placeholder="How many people are in the picture?",
                                          elem_id="ask-question")  # fmt: skip
                    ask_button = gr.Button("Ask", variant="primary", elem_id="ask-button")
                with gr.Column(scale=1):
                    status = gr.Markdown(elem_id="ask-status")
                    answer_text = gr.Textbox(label="Answer", interactive=False, elem_id="ask-answer")
                    annotated = gr.Image(label="Grounded boxes", interactive=False, elem_id="ask-annotated")
            with gr.Row():
                programs = gr.Markdown(label="Programs", elem_id="ask-programs")
                verdicts = gr.Markdown(label="Verdicts", elem_id="ask-verdicts")
            trace = gr.HTML(elem_id="ask-trace")
            image.change(handlers.preview, inputs=image, outputs=[preview, status], api_visibility="private")
            ask_button.click(
                handlers.ask,
                inputs=[image, audio, question],
                outputs=[status, answer_text, annotated, programs, verdicts, trace],
                api_name="ask",
                concurrency_limit=4,
            )
        with gr.Tab("Program"):
            with gr.Row():
                with gr.Column(scale=1):
                    picked = gr.Dropdown(
                        choices=[program.name for program in library_programs()],
                        label="Library program",
                        value=None,
                        elem_id="program-pick",
                    )
                    source = gr.Textbox(
                        label="Program",
                        lines=8,
                        max_lines=30,
                        elem_id="program-source",
                        placeholder="BOX0=LOC(image=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)",
                    )
                    checked = gr.Markdown(elem_id="program-check")
                    program_image = gr.File(
                        label="IMAGE", file_types=["image"], type="filepath", elem_id="program-image"
                    )
                    program_audio = gr.Audio(type="filepath", label="AUDIO (optional)", elem_id="program-audio")
                    program_question = gr.Textbox(label="QUESTION (optional)", elem_id="program-question")
                    run_button = gr.Button("Run", variant="primary", elem_id="program-run")
                with gr.Column(scale=1):
                    run_status = gr.Markdown(elem_id="program-status")
                    run_result = gr.Textbox(label="Result", interactive=False, elem_id="program-result")
            run_trace = gr.HTML(elem_id="program-trace")
            picked.change(handlers.library_source, inputs=picked, outputs=source, api_visibility="private")
            source.change(handlers.validate, inputs=source, outputs=checked, api_name="validate")
            run_button.click(
                handlers.run_program,
                inputs=[source, program_image, program_audio, program_question],
                outputs=[run_status, run_result, run_trace],
                api_name="run_program",
                concurrency_limit=4,
            )
        with gr.Tab("Correct"):
            with gr.Row():
                with gr.Column(scale=1):
                    correct_image = gr.File(
                        label="Image", file_types=["image"], type="filepath", elem_id="correct-image"
                    )
                    caption = gr.Textbox(
                        label="Any model's caption or answer",
                        lines=4,
                        placeholder="Three dogs stand next to a red bus.",
                        elem_id="correct-text",
                    )
                    correct_button = gr.Button("Check and correct", variant="primary", elem_id="correct-button")
                with gr.Column(scale=1):
                    correct_status = gr.Markdown(elem_id="correct-status")
                    corrected = gr.Textbox(label="Corrected (grounded)", interactive=False, elem_id="correct-result")
                    claims = gr.Markdown(elem_id="correct-claims")
            correct_trace = gr.HTML(elem_id="correct-trace")
            correct_button.click(
                handlers.correct,
                inputs=[correct_image, caption],
                outputs=[correct_status, corrected, claims, correct_trace],
                api_name="correct",
                concurrency_limit=2,
            )
    return app


def serve(host: str = "127.0.0.1", port: int = 7860, mcp: bool = True) -> None:
    """Start the app (blocking); with ``mcp`` the MCP server is served too, at ``/mcp`` (streamable HTTP)."""
    import contextlib

    import gradio as gr
    import uvicorn
    from fastapi import FastAPI
    from visorch.interfaces.mcp_server import build_mcp_server

    runtime = Runtime.create()
    agent = SharedAgent(runtime)
    blocks = build_app(runtime, agent)
    mcp_server = build_mcp_server(runtime, agent) if mcp else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        if mcp_server is None:
            yield
            return
        async with mcp_server.session_manager.run():
            yield

    server = FastAPI(lifespan=lifespan)
    if mcp_server is not None:
        server.mount("/mcp", mcp_server.streamable_http_app(streamable_http_path="/", host=host))
    server = gr.mount_gradio_app(server, blocks, path="/")
    try:
        uvicorn.run(server, host=host, port=port, log_level="warning")
    finally:
        agent.close()
        runtime.close()
