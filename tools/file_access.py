"""Which files a program may read: the inputs it was given, and files under the configured roots.

A program's ``LOAD(path=...)`` is text an LLM may have written (or an OCR'd sign may have
suggested), so it is checked here: the path is resolved with every symlink and ``..`` followed,
and must then be an input file the caller gave or lie under one of ``settings.allowed_roots``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from visorch.tools.errors import InputError


class FileAccessDeniedError(InputError):
    """A program asked to read a file outside its inputs and the allowed roots."""


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


class FileAccess:
    """The files programs in this process may read (thread-safe; inputs are added as they are loaded)."""

    def __init__(self, roots: Iterable[str | Path] = ()) -> None:
        self.roots = tuple(_real(root) for root in roots)
        self._given: set[Path] = set()
        self._lock = threading.Lock()

    def allow(self, path: str | Path) -> None:
        """Let programs read ``path`` (an input file the caller gave)."""
        with self._lock:
            self._given.add(_real(path))

    def check(self, path: str | Path) -> Path:
        """The resolved ``path`` if a program may read it; :class:`FileAccessDeniedError` otherwise."""
        resolved = _real(path)
        with self._lock:
            if resolved in self._given:
                return resolved
        if any(resolved.is_relative_to(root) for root in self.roots):
            return resolved
        roots = ", ".join(str(root) for root in self.roots) or "none configured"
        raise FileAccessDeniedError(
            f"a program may read only its inputs and files under the allowed roots ({roots}); {str(path)[:200]!r} "
            f"is neither (it resolves to {str(resolved)[:200]}). Give the file as an input (--image NAME=PATH), "
            "or add its folder to allowed_roots (VISORCH_ALLOWED_ROOTS='[\"/data\"]')"
        )
