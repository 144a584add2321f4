"""Where segmentation checkpoints live under the weights root, and fetching them (needs internet)."""

from __future__ import annotations

from pathlib import Path


def checkpoint_path(weights_root: Path, backend_name: str, filename: str) -> Path:
    """Where ``visorch models pull`` puts a backend's checkpoint: ``<weights_root>/<backend_name>/<filename>``."""
    return Path(weights_root) / backend_name / filename


def find_checkpoint(weights_root: Path, backend_name: str, filename: str) -> Path | None:
    """The checkpoint file, under ``<backend_name>/`` or directly in the weights root; None when missing."""
    for candidate in (checkpoint_path(weights_root, backend_name, filename), Path(weights_root) / filename):
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def download_checkpoint(url: str, target: Path) -> None:
    """Download ``url`` to ``target`` through a temporary file, so a broken download never looks installed."""
    from torch.hub import download_url_to_file

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    download_url_to_file(url, str(partial), progress=True)
    partial.replace(target)
