"""Output files the CLI writes (``--html``, ``--json``): checked before any work, so no result is lost."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from visorch.tools.errors import InputError


class OutputPathError(InputError):
    """An output file (``--html``, ``--json``) cannot be written where it was asked for."""


def check_output_path(path: Path, option: str) -> None:
    """Raise :class:`OutputPathError` unless a file can be written at ``path`` (nothing is left behind)."""
    target = path.expanduser()
    if target.is_dir():
        example = target / f"trace.{option.lstrip('-')}"
        raise OutputPathError(f"{option} {path} is a folder; give a file name, like {example}")
    parent = target.parent
    if not parent.exists():
        raise OutputPathError(f"{option} {path}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise OutputPathError(f"{option} {path}: {parent} is not a folder")
    existed = target.exists()
    try:
        # Opening for append neither truncates an existing file nor needs more than write access,
        # and a real open is the only test that sees read-only mounts and root alike.
        with target.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise OutputPathError(
            f"{option} {path} cannot be written ({error.strerror or error}); choose another place"
        ) from error
    if not existed:
        with contextlib.suppress(OSError):
            os.unlink(target)


def write_outputs(outputs: list[tuple[Path | None, str, Callable[[Path], object]]]) -> dict[str, str]:
    """Run each ``(path, option, writer)`` whose path is set; {option: why it failed} for those that failed.

    A failed write never raises, so the caller can still print the result it has.
    """
    failed: dict[str, str] = {}
    for path, option, writer in outputs:
        if path is None:
            continue
        try:
            writer(path)
        except OSError as error:
            failed[option] = f"{option} {path} could not be written ({error.strerror or error})"
    return failed
