"""``visorch eval --ray``: items evaluated over a Ray cluster with Ray Data (imports Ray on use: ``visorch[ray]``).

``map_batches`` with a class: each actor builds the task's predictor once (its models load once per actor),
a pool of ``concurrency`` actors runs at a time. Results stream back to the driver, which writes each one as it arrives,
so an interrupted run resumes exactly like a local one (finished items are kept).

Faults are Ray's to handle: an actor that dies (its process killed, its node lost) is restarted by Ray
(``max_restarts``) and the batch it held is run again on the new actor (``max_task_retries``); a batch's result
reaches the driver once, so no item is lost or counted twice. Both are bounded, so an item that kills every actor
it runs on stops the run with :class:`EvaluationError` instead of looping; what finished by then is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress
from visorch.evaluation.errors import EvaluationError
from visorch.evaluation.predictors import EvaluationRuntime
from visorch.evaluation.task import EvalItem, ItemContext, ItemResult


@dataclass(frozen=True)
class RayEvaluation:
    """Where and how wide: a Ray address (None: start a local cluster) and the number of actors."""

    open_runtime: Callable[[], EvaluationRuntime]
    """Builds the runtime inside each actor (module-level or a partial of one, so Ray can ship it)."""
    address: str | None = None
    concurrency: int = 1
    num_cpus: float = 1.0
    """CPUs each actor reserves."""
    max_restarts: int = 3
    """How often Ray restarts a dead evaluation actor (Ray Data's default, -1, restarts without end)."""
    max_task_retries: int = 3
    """How often a batch whose actor died runs again on the restarted actor (-1: without end)."""


class _ItemEvaluator:
    """One Ray Data actor: the task and its predictor, built once; evaluates a batch of item indices."""

    def __init__(
        self,
        task_name: str,
        backend: str | None,
        data: str,
        seed: int,
        data_root: str,
        open_runtime: Callable[[], EvaluationRuntime],
        images_dir: str,
        traces_dir: str,
    ) -> None:
        from visorch.evaluation.tasks import create_task
        from visorch.tools.images import ImageStore

        self.task = create_task(task_name)
        # the task reads its data set here as the driver did (tasks keep what load_items read for scoring)
        self.items = {item.id: item for item in self.task.load_items(Path(data), seed, Path(data_root))}
        self.predictor = self.task.build_predictor(open_runtime(), backend)
        self.context = ItemContext(images=ImageStore(Path(images_dir)), traces_dir=Path(traces_dir))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from visorch.evaluation.runner import evaluate_item

        results = [evaluate_item(self.task, self.items[str(i)], self.predictor, self.context) for i in batch["id"]]
        return {"result": [result.model_dump_json() for result in results]}


def run_items_on_ray(
    task_name: str,
    backend: str | None,
    pending: Sequence[EvalItem],
    data: tuple[Path, int, Path],
    context: ItemContext,
    options: RayEvaluation,
    write: Callable[[ItemResult], None],
    progress: Progress,
    already_done: int,
    errors_before: int,
) -> dict[str, ItemResult]:
    """Evaluate ``pending`` on the cluster; each result is written and counted as it comes back.

    ``data`` is (data path, seed, data root): each actor loads the task's items itself, as the driver did.
    """
    import ray
    from visorch.tools.remote.serving import connect_cluster

    connect_cluster(options.address)
    finished: dict[str, ItemResult] = {}
    errors = errors_before
    bar = progress.add_task(task_name, total=already_done + len(pending), completed=already_done, errors=errors)
    if not pending:
        return finished
    dataset = ray.data.from_items([{"id": item.id} for item in pending])
    mapped = dataset.map_batches(
        _ItemEvaluator,
        fn_constructor_kwargs={
            "task_name": task_name,
            "backend": backend,
            "data": str(data[0]),
            "seed": data[1],
            "data_root": str(data[2]),
            "open_runtime": options.open_runtime,
            "images_dir": str(context.images.root),
            "traces_dir": str(context.traces_dir),
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=options.concurrency),  # ``concurrency=N`` before Ray 2.51
        num_cpus=options.num_cpus,
        # actor options, passed on as ray_remote_args: Ray's own fault tolerance, bounded (Ray 2.60 deprecates
        # ray_remote_args for its named parameters, which do not include these two yet)
        max_restarts=options.max_restarts,
        max_task_retries=options.max_task_retries,
    )
    try:
        for row in mapped.iter_rows():
            result = ItemResult.model_validate_json(row["result"])
            write(result)
            finished[result.id] = result
            errors += result.status == "error"
            progress.update(bar, advance=1, errors=errors)
    except ray.exceptions.RayError as error:
        raise EvaluationError(
            f"the Ray evaluation stopped after {already_done + len(finished)} of {already_done + len(pending)} items "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no message'}); the finished "
            "ones are kept: run the same command again to resume"
        ) from error
    return finished
