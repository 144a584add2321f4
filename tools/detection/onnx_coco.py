"""One base for the offline ONNX detectors (NanoDet-m, MB3-CenterNet, the objectron SSD): session, class
filter, per-image loop and labelled result live here; a subclass only decodes its own model's output.

The converted graphs have a fixed batch of 1 (their input shapes say so), so a batch of images is a
loop of single runs; onnxruntime already spreads one run over every core.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.detection.common import build_detections, class_filter, onnx_session
from visorch.tools.vocabulary import COCO_CLASSES


def locate_model_file(weights_root: Path, folder: str, file_name: str) -> Path | None:
    """``<weights_root>/<folder>`` when it holds a non-empty ``file_name``, else None (a backend's ``locate``)."""
    model = Path(weights_root) / folder / file_name
    return model.parent if model.is_file() and model.stat().st_size > 0 else None


class FixedClassDetector:
    """A :class:`visorch.tools.models.protocols.Detector` with a fixed class list; subclasses decode one image."""

    class_list: Sequence[str] = COCO_CLASSES
    class_names: Sequence[str] | None = COCO_CLASSES

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """One ``sv.Detections`` per image (original pixels), for the queried classes or all of them."""
        allowed = class_filter(queries, self.class_list)
        results = []
        for image in images:
            xyxy, scores, classes = self._predict(image, allowed, min_score)
            keep = (scores >= min_score) & (classes >= 0) & (classes < len(self.class_list))
            if allowed is not None:
                keep &= np.isin(classes, allowed)
            if not keep.any():
                results.append(sv.Detections.empty())
                continue
            results.append(build_detections(xyxy[keep], scores[keep], classes[keep], self.class_list))
        return results

    def _predict(
        self, image: Image.Image, allowed: np.ndarray | None, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes in original pixels (N, 4), scores (N,), class ids (N,) before NMS; ``allowed`` may prune early."""
        raise NotImplementedError


class OnnxCocoDetector(FixedClassDetector):
    """A fixed-class detector over one ONNX graph (the 80 COCO classes unless a subclass says otherwise)."""

    def __init__(self, model_path: Path, device: str = "cpu", keep_ratio: bool = True) -> None:
        self.session: Any = onnx_session(model_path, device)
        self.class_names = self.class_list
        self.keep_ratio = keep_ratio
        self._input = self.session.get_inputs()[0].name
        self._output_names = [output.name for output in self.session.get_outputs()]
