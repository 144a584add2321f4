"""What every tool call gets besides its arguments: the image store and the model manager."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from visorch.tools.images import ImageStore
from visorch.tools.models.cache import ResultCache
from visorch.tools.models.manager import ModelManager


@dataclass
class ToolContext:
    """Shared services for tool calls in one process: image pixels and loaded models."""

    images: ImageStore
    models: ModelManager
    results: ResultCache | None = None
    """Cache of model-tool results by content; None disables caching."""
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str], None] | None = None

    def report(self, message: str) -> None:
        """Report progress of a long step (shown by the CLI, streamed by the agent)."""
        if self.progress is not None:
            self.progress(message)
