"""The ``visorch eval TASK`` command, built around a runtime factory the main CLI supplies.

Mount it in the main CLI with::

    app.command("eval")(make_eval_command(open_evaluation_runtime))

where ``open_evaluation_runtime(config_file: Path | None) -> EvaluationRuntime`` builds the model
manager and (lazily) the agent from the settings.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.console import Console
from rich.table import Table
from visorch.evaluation.errors import EvaluationError
from visorch.evaluation.predictors import EvaluationRuntime
from visorch.evaluation.ray_runner import RayEvaluation
from visorch.evaluation.runner import run_evaluation
from visorch.evaluation.summary import SUMMARY_MD, Summary
from visorch.evaluation.tasks import create_task, task_names

TASK_HELP = f"What to evaluate: {', '.join(task_names())}."


class RuntimeFactory(Protocol):
    """``open_runtime(config_file)`` gives models and agent; ``agent=`` overrides [agent] settings by name."""

    def __call__(self, config_file: Path | None, agent: Mapping[str, str] | None = None) -> EvaluationRuntime:
        """The runtime of one evaluation run."""
        ...


def agent_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``--agent KEY=VALUE`` options as a dict (the agent's settings validate names and values)."""
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EvaluationError(f"--agent takes KEY=VALUE (e.g. --agent correct_answers=true), not {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def default_out_dir(task: str, backend: str | None, agent: Mapping[str, str] | None = None) -> Path:
    """reports/eval/TASK[-BACKEND][-KEY=VALUE...]: stable, so rerunning the same command resumes it."""
    parts = [task, *([backend] if backend else []), *(f"{key}={value}" for key, value in sorted((agent or {}).items()))]
    return Path("reports") / "eval" / "-".join(parts)


def summary_table(summary: Summary) -> Table:
    """The headline metrics as a rich table."""
    table = Table(
        title=f"{summary.task}: {summary.finished}/{summary.items} items, {summary.errors} errors",
        caption=f"split: {summary.split}" if summary.split else None,
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary.metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def side_by_side_table(summaries: Mapping[str, Summary]) -> Table:
    """The headline metrics of runs of one task on the same items, one column per run (``--versus``)."""
    first = next(iter(summaries.values()))
    table = Table(
        title=f"{first.task}: {first.items} items, side by side",
        caption=f"split: {first.split}" if first.split else None,
    )
    table.add_column("metric")
    for label in summaries:
        table.add_column(label, justify="right")
    names = list(dict.fromkeys(name for summary in summaries.values() for name in summary.metrics))
    for name in names:
        cells = [summary.metrics.get(name) for summary in summaries.values()]
        table.add_row(name, *(f"{value:.4f}" if isinstance(value, float) else str(value) for value in cells))
    latencies = [summary.run_clock.latency_mean_s for summary in summaries.values()]
    table.add_row("latency_mean_s", *("-" if value is None else f"{value:.2f}" for value in latencies))
    return table


def _label(overrides: Mapping[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(overrides.items())) or "default"


def _open(open_runtime: RuntimeFactory, config: Path | None, agent: Mapping[str, str]) -> EvaluationRuntime:
    return open_runtime(config, agent=agent) if agent else open_runtime(config)


def _ray_options(
    open_runtime: RuntimeFactory, config: Path | None, address: str, workers: int, agent: Mapping[str, str]
) -> RayEvaluation:
    """``--ray ADDRESS``: each Ray Data actor opens the runtime the way this command does."""
    if importlib.util.find_spec("ray") is None:
        raise EvaluationError("eval --ray needs Ray: run pip install 'visorch[ray]'")
    return RayEvaluation(
        open_runtime=functools.partial(_open, open_runtime, config, dict(agent)),
        address=None if address == "local" else address,
        concurrency=workers,
    )


def make_eval_command(open_runtime: RuntimeFactory) -> Callable[..., None]:
    """The typer command function for ``visorch eval``; ``open_runtime(config_file)`` gives models and agent."""

    def eval_command(
        task: Annotated[str, typer.Argument(help=TASK_HELP)],
        data: Annotated[
            Path | None,
            typer.Option("--data", help="Data set (COCO folder or json, receipts, speech folder, questions.jsonl)."),
        ] = None,
        limit: Annotated[int | None, typer.Option("--limit", min=0, help="Only the first N items.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Report folder (default reports/eval/TASK).")] = None,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Items predicted in parallel (threads).")] = 1,
        config: Annotated[Path | None, typer.Option("--config", help="visorch config file (TOML).")] = None,
        backend: Annotated[
            str | None, typer.Option("--backend", help="Model backend (default: best installed).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed for sampled items (POPE).")] = 0,
        resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue a run in --out.")] = True,
        retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Rerun items that failed before.")] = False,
        ray: Annotated[
            str | None,
            typer.Option(
                "--ray",
                help="Run on Ray Data with --workers actors: 'local' starts a cluster, else its address ('auto', "
                "'host:6379'); needs visorch[ray].",
            ),
        ] = None,
        agent: Annotated[
            list[str] | None,
            typer.Option(
                "--agent",
                metavar="KEY=VALUE",
                help="Override an agent setting (the config file's \\[agent] table) for this run, repeatable "
                "(e.g. --agent correct_answers=true); the default report folder names it.",
            ),
        ] = None,
        versus: Annotated[
            list[str] | None,
            typer.Option(
                "--versus",
                metavar="KEY=VALUE",
                help="Also run the same items with these agent settings (over --agent's), repeatable, and print "
                "both runs side by side (e.g. --versus correct_answers=true); each run has its own report folder.",
            ),
        ] = None,
    ) -> None:
        """Evaluate a model backend or the agent on a data set and write a report folder."""
        create_task(task)  # an unknown name fails before anything loads
        overrides = agent_overrides(agent)
        other = agent_overrides(versus)
        runs = [(overrides, out or default_out_dir(task, backend, overrides))]
        if other:
            suffix = "-".join(f"{key}={value}" for key, value in sorted(other.items()))
            both = {**overrides, **other}
            runs.append(
                (both, default_out_dir(task, backend, both) if out is None else out.with_name(f"{out.name}-{suffix}"))
            )
        summaries: dict[str, Summary] = {}
        console = Console()
        for chosen, out_dir in runs:
            runtime = _open(open_runtime, config, chosen)
            summary = run_evaluation(
                task,
                data,
                out_dir,
                limit=limit,
                workers=workers,
                seed=seed,
                resume=resume,
                config={"config_file": None if config is None else str(config.resolve()), **runtime.config},
                runtime=runtime,
                backend=backend,
                retry_errors=retry_errors,
                ray=None if ray is None else _ray_options(open_runtime, config, ray, workers, chosen),
                agent=chosen,
            )
            summaries[_label(chosen)] = summary
            console.print(summary_table(summary))
            console.print(f"report: {out_dir / SUMMARY_MD}")
        if len(summaries) > 1:
            console.print(side_by_side_table(summaries))

    return eval_command
