"""Run one evaluation task end to end: items, predictions in threads, resume, reports."""

from __future__ import annotations

import json
import shlex
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from visorch.evaluation.errors import EvaluationError, ResumeMismatchError
from visorch.evaluation.plots import latency_histogram
from visorch.evaluation.predictors import EvaluationRuntime, describe_predictor
from visorch.evaluation.provenance import collect_provenance, redact_secrets
from visorch.evaluation.ray_runner import RayEvaluation
from visorch.evaluation.results import MANIFEST_FILE, RESULTS_FILE, ResultsLog, RunManifest
from visorch.evaluation.summary import ItemError, RunClock, Summary, write_reports
from visorch.evaluation.task import ErrorInfo, EvalItem, ItemContext, ItemResult, ItemScore, Task
from visorch.evaluation.tasks import create_task
from visorch.tools.images import ImageStore

MAX_LISTED_ERRORS = 20


def build_predictor(task_name: str, runtime: EvaluationRuntime, backend: str | None = None) -> object:
    """The real predictor of ``task_name`` from the runtime (a model backend, or the agent)."""
    return create_task(task_name).build_predictor(runtime, backend)


def _scored(
    task: Task[Any, Any], item: EvalItem, prediction: dict[str, Any] | None
) -> tuple[ItemScore, ErrorInfo | None]:
    try:
        return task.score(item, prediction), None
    except Exception as failure:  # a scoring failure marks this item, not the run
        return task.score(item, None), ErrorInfo.from_exception(failure, stage="score")


def evaluate_item(task: Task[Any, Any], item: EvalItem, predictor: object, context: ItemContext) -> ItemResult:
    """Predict and score one item; any exception becomes a recorded error, never a crash or a success."""
    started = time.perf_counter()
    prediction = None
    error: ErrorInfo | None = None
    try:
        prediction = task.predict(item, predictor, context)
    except Exception as failure:  # a bad item must not stop the run: it is recorded and scored as failed
        error = ErrorInfo.from_exception(failure)
    latency = time.perf_counter() - started
    score, score_error = _scored(task, item, None if prediction is None else prediction.value)
    error = error or score_error
    return ItemResult(
        id=item.id,
        type=item.type,
        status="ok" if error is None else "error",
        item=item.model_dump(mode="json"),
        prediction=None if prediction is None else prediction.value,
        correct=False if error is not None and score.correct is not None else score.correct,
        scores=score.scores,
        error=error,
        latency_s=round(latency, 4),
        trace=None if prediction is None else prediction.trace,
    )


def rescore(task: Task[Any, Any], item: EvalItem, result: ItemResult) -> ItemResult:
    """A stored result scored again from its stored prediction, so scoring changes apply on resume."""
    if result.status == "error":
        return result
    score, error = _scored(task, item, result.prediction)
    return result.model_copy(
        update={
            "item": item.model_dump(mode="json"),
            "status": "ok" if error is None else "error",
            "correct": False if error is not None and score.correct is not None else score.correct,
            "scores": score.scores,
            "error": error,
        }
    )


def _config_dict(config: Mapping[str, Any] | BaseModel | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, BaseModel):
        return dict(redact_secrets(config.model_dump(mode="json")))
    return dict(redact_secrets(json.loads(json.dumps(dict(config), default=str))))


def _previous_results(
    log: ResultsLog, manifest: RunManifest, manifest_path: Path, resume: bool, retry_errors: bool
) -> dict[str, ItemResult]:
    if not resume:
        log.reset()
        return {}
    previous, _cut_off = log.read()
    if previous and manifest_path.is_file():
        earlier = RunManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
        if earlier != manifest:
            raise ResumeMismatchError(
                f"{manifest_path.parent} holds results of another run (task {earlier.task}, data {earlier.data_path}, "
                f"seed {earlier.seed}, predictor {earlier.predictor}); use another output folder or --no-resume"
            )
    if retry_errors:
        previous = {key: result for key, result in previous.items() if result.status == "ok"}
    return previous


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )


def _run_items(
    task: Task[Any, Any],
    predictor: object,
    pending: Sequence[EvalItem],
    context: ItemContext,
    workers: int,
    write: Callable[[ItemResult], None],
    progress: Progress,
    already_done: int,
    errors_before: int,
) -> dict[str, ItemResult]:
    finished: dict[str, ItemResult] = {}
    errors = errors_before
    bar = progress.add_task(task.name, total=already_done + len(pending), completed=already_done, errors=errors)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"eval-{task.name}")
    futures: list[Future[ItemResult]] = [pool.submit(evaluate_item, task, item, predictor, context) for item in pending]
    try:
        for future in as_completed(futures):
            result = future.result()
            write(result)
            finished[result.id] = result
            errors += result.status == "error"
            progress.update(bar, advance=1, errors=errors)
    finally:
        # On an interruption the finished items are already written; queued ones are dropped.
        pool.shutdown(wait=True, cancel_futures=True)
    return finished


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _run_clock(started_at: datetime, wall: float, predicted_now: int, latencies: Sequence[float]) -> RunClock:
    return RunClock(
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_s=round(wall, 3),
        predicted_now=predicted_now,
        items_per_s=round(predicted_now / wall, 3) if predicted_now and wall > 0 else None,
        latency_mean_s=round(statistics.fmean(latencies), 4) if latencies else None,
        latency_median_s=round(statistics.median(latencies), 4) if latencies else None,
        latency_p95_s=_percentile(latencies, 0.95),
    )


def _command(
    task: str,
    data: Path,
    limit: int | None,
    workers: int,
    seed: int,
    backend: str | None,
    out: Path,
    config_file: str | None = None,
    retry_errors: bool = False,
    agent: Mapping[str, str] | None = None,
) -> str:
    parts = ["visorch", "eval", task, "--data", str(data), "--out", str(out), "--seed", str(seed)]
    parts += ["--limit", str(limit)] if limit is not None else []
    parts += ["--workers", str(workers)] if workers != 1 else []
    parts += ["--backend", backend] if backend else []
    parts += ["--config", config_file] if config_file else []
    parts += ["--retry-errors"] if retry_errors else []
    for key, value in (agent or {}).items():
        parts += ["--agent", f"{key}={value}"]
    return " ".join(shlex.quote(part) for part in parts)


def run_evaluation(
    task_name: str,
    data_path: Path | None,
    out_dir: Path,
    limit: int | None = None,
    workers: int = 1,
    config: Mapping[str, Any] | BaseModel | None = None,
    seed: int = 0,
    resume: bool = True,
    *,
    predictor: object | None = None,
    runtime: EvaluationRuntime | None = None,
    backend: str | None = None,
    retry_errors: bool = False,
    show_progress: bool = True,
    ray: RayEvaluation | None = None,
    agent: Mapping[str, str] | None = None,
) -> Summary:
    """Evaluate ``task_name`` on ``data_path`` (default: the task's shared data) and write the report to ``out_dir``.

    The predictor is ``predictor`` when given, else built from ``runtime`` (and ``backend``).
    ``config`` (default: ``runtime.config``) is recorded in the summary. With ``resume``, items
    already in ``out_dir/results.jsonl`` are kept (and scored again from their stored predictions)
    and only the others run; ``retry_errors`` reruns the items that failed before. With ``ray`` the items
    run on a Ray cluster (Ray Data actors, see :mod:`visorch.evaluation.ray_runner`) instead of threads.
    ``agent`` holds the ``--agent KEY=VALUE`` overrides the runtime was opened with, for the summary's command.
    """
    if workers < 1:
        raise EvaluationError(f"workers must be at least 1, not {workers}")
    if limit is not None and limit < 0:
        raise EvaluationError(f"limit must be 0 or more, not {limit}")
    task: Task[Any, Any] = create_task(task_name)
    runtime = runtime or EvaluationRuntime()
    data_root = runtime.shared_data_root()
    data = Path(data_path).expanduser() if data_path is not None else task.default_data(data_root)
    items: list[EvalItem] = task.load_items(data, seed, data_root)
    duplicates = [key for key, count in Counter(item.id for item in items).items() if count > 1]
    if duplicates:
        raise EvaluationError(f"item ids must be unique; repeated: {', '.join(duplicates[:5])}")
    items = items[:limit] if limit is not None else items
    if predictor is None:
        predictor = task.build_predictor(runtime, backend)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = RunManifest(
        task=task.name,
        data_path=str(data.resolve()),
        seed=seed,
        predictor=redact_secrets(describe_predictor(predictor)),
    )
    log = ResultsLog(out_dir / RESULTS_FILE)
    manifest_path = out_dir / MANIFEST_FILE
    previous = _previous_results(log, manifest, manifest_path, resume, retry_errors)
    manifest_path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    kept = {item.id: rescore(task, item, previous[item.id]) for item in items if item.id in previous}
    # One clean line per item: drops a line cut off by a crash and results about to be retried.
    log.rewrite({**previous, **kept}.values())
    pending = [item for item in items if item.id not in kept]
    context = ItemContext(images=ImageStore(out_dir / "images"), traces_dir=out_dir / "traces")

    started_at, started = datetime.now(UTC), time.perf_counter()
    errors_before = sum(1 for result in kept.values() if result.status == "error")
    with _progress(show_progress) as progress, log.writer() as write:
        if ray is not None:
            from visorch.evaluation.ray_runner import run_items_on_ray

            new = run_items_on_ray(
                task.name,
                backend,
                pending,
                (data, seed, data_root),
                context,
                ray,
                write,
                progress,
                len(kept),
                errors_before,
            )
        else:
            new = _run_items(task, predictor, pending, context, workers, write, progress, len(kept), errors_before)
    wall = time.perf_counter() - started

    results = {**kept, **new}
    pairs = [(item, results[item.id]) for item in items if item.id in results]
    aggregate = task.aggregate(pairs)
    latencies = [result.latency_s for _, result in pairs]
    plots = [latency_histogram(latencies, out_dir / "latency.png", f"{task.name}: latency per item")]
    plots += task.plots(pairs, aggregate, out_dir)
    failed = [result for _, result in pairs if result.error is not None]
    recorded_config = _config_dict(config if config is not None else runtime.config)
    summary = Summary(
        task=task.name,
        data_path=str(data.resolve()),
        out_dir=str(out_dir.resolve()),
        items=len(items),
        finished=len(pairs),
        errors=len(failed),
        error_types=dict(Counter(result.error.type for result in failed if result.error is not None)),
        resumed=len(kept),
        split=aggregate.split,
        metrics=aggregate.metrics,
        per_type=aggregate.per_type,
        breakdown=aggregate.breakdown,
        details=aggregate.details,
        notes=aggregate.notes,
        failed_items=[ItemError(id=r.id, error=r.error) for r in failed[:MAX_LISTED_ERRORS] if r.error is not None],
        predictor=manifest.predictor,
        config=recorded_config,
        seed=seed,
        limit=limit,
        workers=workers,
        command=_command(
            task.name,
            data.resolve(),
            limit,
            workers,
            seed,
            backend,
            out_dir,
            config_file=recorded_config.get("config_file"),
            retry_errors=retry_errors,
            agent=agent,
        ),
        provenance=collect_provenance(),
        run_clock=_run_clock(started_at, wall, len(new), latencies),
        plots=[plot.relative_to(out_dir).as_posix() for plot in plots],
    )
    write_reports(summary, out_dir)
    return summary
