"""Typed errors shared by every part of visorch.

Every error visorch raises on purpose subclasses :class:`VisorchError`, and its message says
what went wrong and what to do next, so the CLI can print one clear line without a traceback.
"""

from __future__ import annotations


class VisorchError(Exception):
    """Base class of every error visorch raises on purpose."""


class InputError(VisorchError):
    """A user-supplied input (file, argument, value) cannot be used."""


class ImageLoadError(InputError):
    """An image file is missing, empty, corrupt, truncated or not an image."""


class ImageTooLargeError(ImageLoadError):
    """An image has more pixels than the configured limit (a decompression bomb guard)."""


class AudioLoadError(InputError):
    """An audio file is missing, empty, unreadable or not audio."""


class ToolError(VisorchError):
    """A tool could not produce its output."""


class UnknownToolError(ToolError):
    """A program or caller named a tool that is not registered; ``closest`` holds the likeliest names."""

    def __init__(self, name: str, closest: list[str] | None = None) -> None:
        self.name = name
        self.closest = list(closest or [])
        hint = f"; did you mean {' or '.join(self.closest)}?" if self.closest else ""
        super().__init__(f"no tool named {name}{hint}")


class ToolNotInstalledError(ToolError):
    """A tool's Python packages or model weights are not installed; the message says how to fix it."""


class MissingWeightsError(ToolNotInstalledError):
    """A model's weights (a backend's files, or the planner LLM's GGUF/checkpoint) are not where the settings
    point; the message gives the install or pull command."""


class ToolArgumentError(ToolError):
    """A tool was called with values it cannot use (checked at run time)."""


class ToolExecutionError(ToolError):
    """A tool raised an unexpected exception; the original is kept as ``__cause__``."""


class UnknownClassError(ToolError):
    """A detector cannot name the requested object class."""


class ConfigError(VisorchError):
    """The configuration (file, environment variables or arguments) is invalid."""


class UnknownBackendError(ConfigError):
    """A setting or argument names a model backend that is not declared; the message lists the closest names."""
