"""Fusion as detection backends ('fused', 'fused-flip', 'fused-tiles'): pick one with the model manager's
``preferred`` setting (``[models] preferred = {detection = "fused"}``) or ``--backend fused`` in the
evaluation harness, and LOC, FIND and the harness run every installed expert fused.

The fused model holds its own small model manager over the expert backends (same weights root and
device), so the experts load lazily and once, like any other model.
"""

from __future__ import annotations

from pathlib import Path

from visorch.tools.capability import Capability
from visorch.tools.detection.backends import CENTERNET, NANODET, OWLV2, SSD_OIDV4, YOLO
from visorch.tools.fusion.ensemble import FusionOptions
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.vocabulary import COCO_CLASSES

EXPERT_BACKENDS = (YOLO, NANODET, CENTERNET, SSD_OIDV4, OWLV2)
"""The detectors fusion may use; the installed ones take part."""
MIN_EXPERTS = 2


def _installed_experts(weights_root: Path) -> list[Backend]:
    return [backend for backend in EXPERT_BACKENDS if backend.installed_reason(weights_root) is None]


def _locate(weights_root: Path) -> Path | None:
    return Path(weights_root) if len(_installed_experts(weights_root)) >= MIN_EXPERTS else None


def fused_backend(name: str, options: FusionOptions, priority: int) -> Backend:
    """A backend whose model is every installed expert fused with ``options``."""

    def load(request: LoadRequest) -> object:
        from visorch.tools.fusion.experts import FusedDetector
        from visorch.tools.models.manager import ModelManager

        experts = ModelManager(EXPERT_BACKENDS, request.weights_dir, device=request.device)
        return FusedDetector(experts, options)

    views = " + mirrored view" if options.flip else ""
    views += " + overlapping tiles" if options.tiles else ""
    return Backend(
        name=name,
        capability=Capability.DETECTION,
        title=f"Fusion of every installed COCO detector (weighted box fusion{views})",
        version=f"ensemble-boxes WBF, IoU {options.iou}; experts: " + ", ".join(b.name for b in EXPERT_BACKENDS),
        license="MIT (ensemble-boxes); each expert keeps its own licence",
        size_mb=0.0,
        install_command="visorch models install-offline (at least two detectors)",
        load=load,
        locate=_locate,
        python_modules=("ensemble_boxes", "onnxruntime") + (("sahi",) if options.tiles else ()),
        offline=True,
        priority=priority,
        memory_mb=300,
        notes="Each box keeps its votes (which experts saw it, at what score); scores are agreement-scaled, "
        "so a box only one of three experts saw scores a third of that expert's score.",
        extra={"classes": COCO_CLASSES, "fusion": options.tag()},
    )


FUSED = fused_backend("fused", FusionOptions(), priority=50)
FUSED_FLIP = fused_backend("fused-flip", FusionOptions(flip=True), priority=51)
FUSED_TILES = fused_backend("fused-tiles", FusionOptions(flip=True, tiles=True), priority=52)
BACKENDS: list[Backend] = [FUSED, FUSED_FLIP, FUSED_TILES]
