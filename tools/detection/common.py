"""Pieces every detector wrapper shares: ONNX sessions, input resizing, class filters, the sv.Detections result."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.detections import CLASS_NAME

NMS_IOU = 0.5
MAX_DETECTIONS = 100


def onnx_session(path: Path, device: str) -> Any:
    """An onnxruntime session on ``device`` ('cuda' uses the CUDA provider when this onnxruntime has it)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, os.cpu_count() or 1)
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)


@dataclass(frozen=True)
class Resized:
    """An image scaled into a fixed model input: pixels plus the mapping back to the original."""

    pixels: np.ndarray
    """(size, size, 3) uint8 RGB."""
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_original(self, xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boxes in model-input pixels mapped to original pixels, clipped to the image."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - self.pad_x) / self.scale_x
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - self.pad_y) / self.scale_y
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return boxes


def resize_to_square(image: Image.Image, size: int, keep_ratio: bool) -> Resized:
    """Scale ``image`` to a ``size`` square: stretched, or letterboxed (centred, black bars) when ``keep_ratio``."""
    rgb = image.convert("RGB")
    if not keep_ratio:
        pixels = np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR))
        return Resized(pixels, size / rgb.width, size / rgb.height, 0, 0)
    scale = size / max(rgb.width, rgb.height)
    width, height = max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    pad_x, pad_y = (size - width) // 2, (size - height) // 2
    canvas[pad_y : pad_y + height, pad_x : pad_x + width] = np.asarray(
        rgb.resize((width, height), Image.Resampling.BILINEAR)
    )
    return Resized(canvas, scale, scale, pad_x, pad_y)


def class_filter(queries: Sequence[str] | None, class_names: Sequence[str]) -> np.ndarray | None:
    """Class ids the caller asked for (queries are already class names), or None for all classes."""
    if queries is None:
        return None
    wanted = set(queries)
    return np.array([index for index, name in enumerate(class_names) if name in wanted], dtype=int)


def build_detections(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    class_names: Sequence[str],
    nms_iou: float = NMS_IOU,
    max_detections: int = MAX_DETECTIONS,
) -> sv.Detections:
    """Per-class NMS (supervision), best first, at most ``max_detections``, labelled with class names."""
    if len(xyxy) == 0:
        return sv.Detections.empty()
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    confidence = np.asarray(scores, dtype=np.float32)
    labels = np.asarray(class_ids, dtype=int)
    keep = np.zeros(len(boxes), dtype=bool)
    for label in np.unique(labels):  # one small IoU matrix per class instead of one over all boxes
        members = np.flatnonzero(labels == label)
        predictions = np.column_stack([boxes[members], confidence[members]])
        keep[members] = sv.box_non_max_suppression(predictions, iou_threshold=nms_iou)
    kept = np.flatnonzero(keep)
    order = kept[np.argsort(-confidence[kept], kind="stable")][:max_detections]
    return sv.Detections(
        xyxy=boxes[order],
        confidence=confidence[order],
        class_id=labels[order],
        data={CLASS_NAME: np.array([class_names[i] for i in labels[order]], dtype=object)},
    )
