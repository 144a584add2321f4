"""The Ray Serve deployment that serves one model backend to many callers (imports Ray: ``visorch[ray]``).

Each replica owns a :class:`~visorch.tools.models.manager.ModelManager` with the one backend loaded once;
concurrent requests are grouped by ``@serve.batch`` and calls of a batched method with equal arguments run as
one model call, exactly as the local manager's micro-batcher does.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

from ray import serve
from visorch.tools.models.protocols import Detector, PointSegmenter
from visorch.tools.remote.calls import BATCHED_METHODS, ExpertInfo, RemoteCall, RemoteFailure

DEFAULT_MAX_BATCH_SIZE = 10
DEFAULT_BATCH_WAIT_TIMEOUT_S = 0.01


def _group_key(call: RemoteCall) -> tuple[str, str]:
    return call.method, repr(call.args)


class ExpertModel:
    """One backend's model, loaded once per replica, called through :meth:`call` (batched)."""

    def __init__(
        self,
        backend: str,
        weights_root: str,
        device: str | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_TIMEOUT_S,
    ) -> None:
        from visorch.tools.catalog import default_backends
        from visorch.tools.models.manager import ModelManager

        self._models = ModelManager(default_backends(), Path(weights_root), device=device)
        self._name = backend
        self._backend = self._models.backend(backend)
        self._models.load(backend)  # once, now: the first request does not pay for it
        self._batch_sizes: list[int] = []
        batched = cast(Any, self.call)  # serve.batch's wrapper, typed as the plain method
        batched.set_max_batch_size(max_batch_size)
        batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def info(self) -> ExpertInfo:
        """The backend's identity (name, version, weights fingerprint) and this replica's counters."""
        with self._models.use(self._name) as model:
            class_names = getattr(model, "class_names", None) if isinstance(model, Detector) else None
            point_prompts = isinstance(model, PointSegmenter)
        try:
            replica = str(serve.get_replica_context().replica_id)
        except Exception:  # outside a replica (a direct unit call)
            replica = f"pid {os.getpid()}"
        loaded = self._models.loaded().get(self._name, {})
        return ExpertInfo(
            backend=self._name,
            version=self._backend.version,
            fingerprint=self._models.weights_fingerprint(self._name),
            capability=str(self._backend.capability),
            class_names=None if class_names is None else list(class_names),
            point_prompts=point_prompts,
            load_count=self._models.load_counts[self._name],
            batch_sizes=list(self._batch_sizes),
            replica=replica,
            device=loaded.get("device", "?"),
            memory_mb=float(loaded.get("memory_mb", 0.0)),
        )

    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_TIMEOUT_S)
    async def call(self, calls: list[RemoteCall]) -> list[Any]:
        """One outcome per call (a result, or a :class:`RemoteFailure` when the model raised on it)."""
        self._batch_sizes.append(len(calls))
        return await asyncio.to_thread(self._run, calls)

    def _run(self, calls: list[RemoteCall]) -> list[Any]:
        outcomes: list[Any] = [None] * len(calls)
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, call in enumerate(calls):
            groups[_group_key(call) if call.method in BATCHED_METHODS else (call.method, str(index))].append(index)
        with self._models.use(self._name) as model:
            for indices in groups.values():
                first = calls[indices[0]]
                try:
                    method = getattr(model, first.method)
                    if first.method in BATCHED_METHODS:
                        results = method([calls[i].item for i in indices], *first.args)
                        for position, index in enumerate(indices):
                            outcomes[index] = results[position]
                    else:
                        outcomes[indices[0]] = method(first.item, *first.args)
                except Exception as error:
                    for index in indices:
                        outcomes[index] = RemoteFailure(type(error).__name__, str(error))
        return outcomes


ExpertDeployment = serve.deployment()(ExpertModel)
"""The Serve deployment of :class:`ExpertModel`."""


def expert_app(
    backend: str,
    weights_root: Path,
    device: str | None = None,
    replicas: int = 1,
    gpus: float = 0.0,
    cpus: float = 1.0,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_TIMEOUT_S,
) -> Any:
    """The Serve application serving ``backend``: ``replicas`` replicas, each with ``gpus`` of a GPU."""
    options = ExpertDeployment.options(
        name=backend,
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus, "num_gpus": gpus},
        max_ongoing_requests=max(2 * max_batch_size, 16),
    )
    return options.bind(backend, str(weights_root), device, max_batch_size, batch_wait_timeout_s)
