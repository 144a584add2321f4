"""What every tool call gets besides its arguments: the image store and the model manager."""

from __future__ import annotations

from dataclasses import dataclass, field

from visorch.tools.file_access import FileAccess
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
    files: FileAccess = field(default_factory=FileAccess)
    """The files a program may LOAD: its inputs and files under the configured roots."""
