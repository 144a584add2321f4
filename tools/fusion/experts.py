"""Which installed detectors take part in fusion, as :class:`Expert` entries built from the model manager."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.detection.backends import OPEN_VOCABULARY
from visorch.tools.fusion.ensemble import Expert, FusionOptions, fuse_experts
from visorch.tools.models.manager import ModelManager
from visorch.tools.vocabulary import COCO_CLASSES

DETECTION = "detection"


def _runner(models: ModelManager, name: str, open_vocabulary: bool) -> Any:
    def detect(images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float) -> list[sv.Detections]:
        asked = list(COCO_CLASSES) if open_vocabulary and queries is None else queries
        with models.use(name) as detector:
            found: list[sv.Detections] = detector.detect(list(images), asked, min_score)
        if open_vocabulary:  # phrases come back as class names; give them COCO ids
            for detections in found:
                names = detections.data.get("class_name")
                if names is not None and len(detections):
                    detections.class_id = np.array([COCO_CLASSES.index(str(n)) for n in names], dtype=int)
        return found

    return detect


def installed_experts(models: ModelManager, names: Sequence[str] | None = None) -> list[Expert]:
    """Every installed COCO-capable detection backend (or just ``names``), preferred first."""
    experts = []
    for backend in models.backends(DETECTION):
        if names is not None and backend.name not in names:
            continue
        if models.not_installed_reason(backend.name) is not None:
            continue
        open_vocabulary = bool(backend.extra.get(OPEN_VOCABULARY))
        declared = backend.extra.get("classes")
        if declared is None and not open_vocabulary:
            with models.use(backend.name) as detector:
                declared = detector.class_names
        classes = frozenset(COCO_CLASSES) if open_vocabulary else frozenset(declared or ()) & frozenset(COCO_CLASSES)
        if classes:
            experts.append(Expert(backend.name, classes, _runner(models, backend.name, open_vocabulary)))
    return experts


class FusedDetector:
    """All installed experts fused; ``detect`` has the Detector protocol's shape (images, queries, min_score)."""

    class_names: Sequence[str] | None = COCO_CLASSES

    def __init__(self, models: ModelManager, options: FusionOptions | None = None,
                 names: Sequence[str] | None = None) -> None:  # fmt: skip
        self.options = options or FusionOptions()
        self.experts = installed_experts(models, names)

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """Fused boxes per image at or above ``min_score`` (the fused, agreement-scaled score)."""
        results = []
        for image in images:
            fused = fuse_experts(image, self.experts, queries, self.options)
            if len(fused) and fused.confidence is not None:
                kept = fused[fused.confidence >= min_score]
                fused = kept if isinstance(kept, sv.Detections) else fused
            results.append(fused)
        return results

    def describe(self) -> dict[str, Any]:
        """The experts and options, for reports."""
        return {"experts": [e.name for e in self.experts], "options": self.options.tag()}
