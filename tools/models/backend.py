"""Model backends: one description per set of weights a tool can run on."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visorch.tools.capability import Capability


@dataclass(frozen=True)
class LoadRequest:
    """What a backend's loader gets: where weights live and which device to use."""

    weights_dir: Path
    device: str


@dataclass(frozen=True)
class Backend:
    """A loadable model for one capability (detection, ocr, asr, ...), described once.

    ``locate`` finds the weights (a path, or None when missing), ``load`` builds the model
    object. Both are cheap to declare; nothing is imported or loaded until first use.
    """

    name: str
    capability: Capability
    title: str
    version: str
    license: str
    size_mb: float
    install_command: str
    load: Callable[[LoadRequest], Any]
    locate: Callable[[Path], Path | None]
    python_modules: tuple[str, ...] = ()
    offline: bool = False
    """True when the weights ship inside packages (the offline pack installs them)."""
    classical: bool = False
    """True for classical (non-learned) methods, labelled as such in cards and traces."""
    priority: int = 100
    """Lower is preferred when several backends of a capability are installed."""
    memory_mb: float = 0.0
    """Expected resident size once loaded; used for the memory budget."""
    devices: tuple[str, ...] = ("cpu",)
    """Devices the backend can run on, in the backend's own order of preference."""
    pull: Callable[[Path], None] | None = None
    """Fetches hub weights into the weights root (``visorch models pull NAME``); needs internet."""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint: Callable[[Path], str] | None = None
    """The weights' identity when it is not read from local files (a remote backend asks its deployment)."""

    def missing_modules(self) -> list[str]:
        """Python modules this backend needs that are not importable."""
        return [module for module in self.python_modules if importlib.util.find_spec(module) is None]

    def installed_reason(self, weights_root: Path) -> str | None:
        """None when installed, else why not (missing packages or weights)."""
        missing = self.missing_modules()
        if missing:
            return f"missing Python packages: {', '.join(missing)}"
        if self.locate(weights_root) is None:
            return "missing weights"
        return None
