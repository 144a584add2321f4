"""Putting boxes into the pixel space of an image, and clamping crop windows."""

from __future__ import annotations

import numpy as np
from visorch.tools.detections import Detections
from visorch.tools.errors import ToolArgumentError
from visorch.tools.images import ImageRef


def boxes_on(image: ImageRef, boxes: Detections) -> np.ndarray:
    """The boxes' xyxy in ``image`` pixels, following crop offsets when they were found on a crop."""
    if boxes.image.sha256 == image.sha256:
        return boxes.xyxy
    source_root, target_root = boxes.image.root(), image.root()
    if source_root.sha256 != target_root.sha256:
        raise ToolArgumentError(
            f"the boxes were found on another image ({boxes.image.short_id}), not on {image.short_id}"
        )
    sx, sy = boxes.image.offset_in_root()
    tx, ty = image.offset_in_root()
    return boxes.xyxy + np.array([sx - tx, sy - ty, sx - tx, sy - ty], dtype=np.float32)


def pick_box(image: ImageRef, boxes: Detections, index: int) -> np.ndarray:
    """One box (by index; negative counts from the end) in ``image`` pixels, or a clear error."""
    if len(boxes) == 0:
        note = f" ({'; '.join(boxes.notes)})" if boxes.notes else ""
        raise ToolArgumentError(f"there is no box to use: the detections are empty{note}")
    if not -len(boxes) <= index < len(boxes):
        raise ToolArgumentError(f"box index {index} is out of range: there are {len(boxes)} boxes")
    return boxes_on(image, boxes)[index]


def clamp_window(image: ImageRef, x1: float, y1: float, x2: float, y2: float) -> tuple[int, int, int, int]:
    """Integer crop window inside the image, at least one pixel wide and high."""
    left = int(np.clip(np.floor(x1), 0, image.width - 1))
    top = int(np.clip(np.floor(y1), 0, image.height - 1))
    right = int(np.clip(np.ceil(x2), left + 1, image.width))
    bottom = int(np.clip(np.ceil(y2), top + 1, image.height))
    return left, top, right, bottom
