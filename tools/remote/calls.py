"""What travels between a remote backend's client and its deployment: one call, one outcome (no Ray here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BATCHED_METHODS = frozenset({"detect", "caption", "score", "similarity"})
"""Protocol methods whose first argument is a list of images and whose result has one entry (row) per image:
concurrent calls of them with equal other arguments run as one model call."""


@dataclass(frozen=True)
class RemoteCall:
    """``model.<method>(item, *args)``; for a batched method, ``item`` is one image of the list."""

    method: str
    item: Any
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class RemoteFailure:
    """The model raised on a call: its type and message (the deployment itself is fine)."""

    error_type: str
    message: str


@dataclass(frozen=True)
class ExpertInfo:
    """What a deployment says about itself: the identity results are cached under, and its counters."""

    backend: str
    version: str
    fingerprint: str
    capability: str
    class_names: list[str] | None
    point_prompts: bool
    load_count: int
    """How many times this replica loaded the model (1 for a healthy replica, however many callers)."""
    batch_sizes: list[int]
    """Sizes of the batches this replica has run, in order."""
    replica: str
    device: str
    memory_mb: float
    """The model's resident size as this replica's manager measured it at load."""
