"""Hugging Face model snapshots under the weights root: find, pull (needs internet) and load them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def snapshot_dir(weights_root: Path, name: str) -> Path | None:
    """``<weights_root>/<name>`` when it holds a complete ``save_pretrained`` snapshot, else None."""
    directory = Path(weights_root) / name
    if not (directory / "config.json").is_file():
        return None
    if not any((directory / file).is_file() for file in WEIGHT_FILES):
        return None
    if not any((directory / file).is_file() for file in PROCESSOR_FILES):
        return None
    return directory


def pull_snapshot(model_id: str, model_class: str, weights_root: Path, name: str) -> Path:
    """Download ``model_id`` from the Hugging Face hub and save it as ``<weights_root>/<name>``."""
    import transformers

    processor = transformers.AutoProcessor.from_pretrained(model_id)
    model = getattr(transformers, model_class).from_pretrained(model_id)
    target = Path(weights_root) / name
    partial = Path(weights_root) / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # a half-written snapshot never looks installed
    return target


def load_snapshot(directory: Path, model_class: str, device: str) -> tuple[Any, Any]:
    """(processor, model) from a local snapshot, the model in eval mode on ``device``; never touches the hub."""
    import transformers

    processor = transformers.AutoProcessor.from_pretrained(directory, local_files_only=True)
    model = getattr(transformers, model_class).from_pretrained(directory, local_files_only=True)
    return processor, model.to(device).eval()
