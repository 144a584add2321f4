"""Segmentation backends: segment-anything SAM, ultralytics MobileSAM / SAM 2.1 / FastSAM, classical GrabCut."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from visorch.tools.capability import Capability
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.segmentation.weights import checkpoint_path, download_checkpoint, find_checkpoint

SAM_CHECKPOINT_URL = "https://dl.fbaipublicfiles.com/segment_anything/{filename}"
GPU_DEVICES = ("cuda", "mps", "cpu")
PROMPTS = "prompts"
"""Key of ``Backend.extra`` listing the prompt kinds a segmentation backend takes ('box', 'point')."""


def _load_sam(kind: str, request: LoadRequest) -> Any:
    from visorch.tools.segmentation.sam import SamSegmenter

    return SamSegmenter.build(kind, request.weights_dir, request.device)


def _pull_sam(name: str, filename: str, weights_root: Path) -> None:
    download_checkpoint(SAM_CHECKPOINT_URL.format(filename=filename), checkpoint_path(weights_root, name, filename))


def _sam_backend(name: str, kind: str, filename: str, size_mb: float, memory_mb: float, priority: int) -> Backend:
    return Backend(
        name=name,
        capability=Capability.SEGMENTATION,
        title=f"Segment Anything (SAM {kind.replace('_', '-').upper()}, Meta)",
        version=f"segment-anything 1.0 ({filename})",
        license="Apache-2.0",
        size_mb=size_mb,
        install_command=f"visorch models pull {name}",
        load=partial(_load_sam, kind),
        locate=lambda root: find_checkpoint(root, name, filename),
        python_modules=("segment_anything", "torch"),
        priority=priority,
        memory_mb=memory_mb,
        devices=GPU_DEVICES,
        pull=partial(_pull_sam, name, filename),
        notes="Box and point prompts; the image encoder is slow on CPU (seconds per image for ViT-B).",
        extra={PROMPTS: ("box", "point")},
    )


def _load_ultralytics_sam(request: LoadRequest) -> Any:
    from visorch.tools.segmentation.ultralytics_sam import UltralyticsSamSegmenter

    return UltralyticsSamSegmenter(request.weights_dir, request.device)


def _load_fastsam(request: LoadRequest) -> Any:
    from visorch.tools.segmentation.ultralytics_sam import FastSamSegmenter

    return FastSamSegmenter(request.weights_dir, request.device)


def _pull_ultralytics(name: str, filename: str, weights_root: Path) -> None:
    from ultralytics.utils.downloads import attempt_download_asset

    target = checkpoint_path(weights_root, name, filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    attempt_download_asset(target)  # fetches the ultralytics release asset of that file name into that path


def _ultralytics_backend(
    name: str, title: str, filename: str, license: str, size_mb: float, memory_mb: float, priority: int, notes: str
) -> Backend:
    return Backend(
        name=name,
        capability=Capability.SEGMENTATION,
        title=title,
        version=f"ultralytics ({filename})",
        license=license,
        size_mb=size_mb,
        install_command=f"visorch models pull {name}",
        load=_load_fastsam if filename.startswith("FastSAM") else _load_ultralytics_sam,
        locate=lambda root: find_checkpoint(root, name, filename),
        python_modules=("ultralytics", "torch"),
        priority=priority,
        memory_mb=memory_mb,
        devices=GPU_DEVICES,
        pull=partial(_pull_ultralytics, name, filename),
        notes=notes,
        extra={PROMPTS: ("box",) if filename.startswith("FastSAM") else ("box", "point")},
    )


def _load_grabcut(request: LoadRequest) -> Any:
    from visorch.tools.segmentation.grabcut import GrabCutSegmenter

    return GrabCutSegmenter()


GRABCUT = Backend(
    name="grabcut",
    capability=Capability.SEGMENTATION,
    title="GrabCut (classical, OpenCV; no learned weights)",
    version="cv2.grabCut, 2 iterations at 120 px, inscribed-ellipse fallback below 20% fill",
    license="Apache-2.0",
    size_mb=0.0,
    install_command="pip install opencv-python",
    load=_load_grabcut,
    locate=lambda root: Path(root),
    python_modules=("cv2",),
    offline=True,
    classical=True,
    priority=1000,
    notes="Colour-model segmentation inside each box; weak where object and background share colours.",
    extra={PROMPTS: ("box",)},
)

BACKENDS: list[Backend] = [
    _sam_backend("sam-vit-h", "vit_h", "sam_vit_h_4b8939.pth", size_mb=2560, memory_mb=3500, priority=10),
    _sam_backend("sam-vit-l", "vit_l", "sam_vit_l_0b3195.pth", size_mb=1250, memory_mb=2100, priority=20),
    _sam_backend("sam-vit-b", "vit_b", "sam_vit_b_01ec64.pth", size_mb=375, memory_mb=1000, priority=30),
    _ultralytics_backend(
        "sam2.1-b",
        "SAM 2.1 base+ (Meta, via ultralytics)",
        "sam2.1_b.pt",
        license="Apache-2.0 weights; ultralytics code AGPL-3.0",
        size_mb=162,
        memory_mb=800,
        priority=15,
        notes="Box and point prompts.",
    ),
    _ultralytics_backend(
        "mobile-sam",
        "MobileSAM (TinyViT SAM, via ultralytics)",
        "mobile_sam.pt",
        license="Apache-2.0 weights; ultralytics code AGPL-3.0",
        size_mb=39,
        memory_mb=300,
        priority=40,
        notes="Box and point prompts; fast on CPU, rougher edges than SAM.",
    ),
    _ultralytics_backend(
        "fastsam-x",
        "FastSAM-x (YOLOv8-seg that outlines everything, via ultralytics)",
        "FastSAM-x.pt",
        license="AGPL-3.0",
        size_mb=138,
        memory_mb=900,
        priority=50,
        notes="Segments everything, then picks the best-overlapping mask per box; empty where it finds none.",
    ),
    _ultralytics_backend(
        "fastsam-s",
        "FastSAM-s (YOLOv8-seg that outlines everything, via ultralytics)",
        "FastSAM-s.pt",
        license="AGPL-3.0",
        size_mb=23,
        memory_mb=300,
        priority=60,
        notes="Segments everything, then picks the best-overlapping mask per box; empty where it finds none.",
    ),
    GRABCUT,
]
