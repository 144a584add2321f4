"""A classical box-prompted segmenter: OpenCV GrabCut, no learned weights."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

_MIN_SIDE = 4  # boxes thinner than this are returned as filled boxes: GrabCut has no pixels to model


def inscribed_ellipse(height: int, width: int, window: tuple[int, int, int, int]) -> np.ndarray:
    """A (height, width) boolean mask of the ellipse inscribed in the integer window (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = window
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.ellipse(mask, (((x1 + x2) / 2, (y1 + y2) / 2), (float(x2 - x1), float(y2 - y1)), 0.0), 1, -1)
    mask[:, :x1] = 0
    mask[:, x2:] = 0
    mask[:y1, :] = 0
    mask[y2:, :] = 0
    return mask.astype(bool)


class GrabCutSegmenter:
    """Outlines the object in each box with GrabCut (colour models of the box inside vs. its surroundings).

    Each box is segmented in a window around it, downscaled so its longer side is at most
    ``working_side`` pixels (GrabCut's cost grows faster than the pixel count), then scaled back.
    Where GrabCut keeps less than ``min_fill`` of the box (its colour models collapsed onto the
    background), the ellipse inscribed in the box is returned instead, the better guess on COCO.
    """

    def __init__(
        self, iterations: int = 2, margin: float = 0.1, working_side: int = 120, min_fill: float = 0.2
    ) -> None:
        self.iterations = iterations
        self.margin = margin
        self.working_side = working_side
        self.min_fill = min_fill

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 4) xyxy box prompt."""
        return self.segment_with_notes(image, boxes)[0]

    def segment_with_notes(self, image: Image.Image, boxes: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The masks, and a note naming the boxes whose mask is not GrabCut's but a fallback shape."""
        pixels = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
        height, width = pixels.shape[:2]
        prompts = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        masks = np.zeros((len(prompts), height, width), dtype=bool)
        methods = []
        for index, box in enumerate(prompts):
            masks[index], method = self._segment_box(pixels, box)
            methods.append(method)
        notes = []
        for method in ("ellipse", "box"):
            indices = [str(i) for i, m in enumerate(methods) if m == method]
            if indices:
                shape = "the ellipse inscribed in the box" if method == "ellipse" else "the whole (thin) box"
                notes.append(f"grabcut failed on box {', '.join(indices)}: its mask is {shape}, a guess")
        return masks, notes

    def _segment_box(self, pixels: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, str]:
        """One mask and how it was made: 'grabcut', or the fallback 'ellipse' / 'box'."""
        height, width = pixels.shape[:2]
        x1, y1 = int(np.clip(np.round(box[0]), 0, width - 1)), int(np.clip(np.round(box[1]), 0, height - 1))
        x2, y2 = int(np.clip(np.round(box[2]), x1 + 1, width)), int(np.clip(np.round(box[3]), y1 + 1, height))
        if x2 - x1 < _MIN_SIDE or y2 - y1 < _MIN_SIDE:
            full = np.zeros((height, width), dtype=bool)
            full[y1:y2, x1:x2] = True
            return full, "box"
        fallback = inscribed_ellipse(height, width, (x1, y1, x2, y2))
        # A window around the box supplies the background colours GrabCut learns from.
        pad_x, pad_y = max(8, round((x2 - x1) * self.margin)), max(8, round((y2 - y1) * self.margin))
        left, top = max(0, x1 - pad_x), max(0, y1 - pad_y)
        right, bottom = min(width, x2 + pad_x), min(height, y2 + pad_y)
        window = pixels[top:bottom, left:right]
        scale = min(1.0, self.working_side / max(window.shape[:2]))
        small = cv2.resize(window, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else window
        small_h, small_w = small.shape[:2]
        # GrabCut learns the background from outside the rectangle: keep at least a one-pixel border.
        rx1, ry1 = max(1, int((x1 - left) * scale)), max(1, int((y1 - top) * scale))
        rx2 = min(small_w - 1, int(np.ceil((x2 - left) * scale)))
        ry2 = min(small_h - 1, int(np.ceil((y2 - top) * scale)))
        labels = np.zeros((small_h, small_w), dtype=np.uint8)
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        rect = (rx1, ry1, max(1, rx2 - rx1), max(1, ry2 - ry1))
        try:
            cv2.grabCut(small, labels, rect, background, foreground, self.iterations, cv2.GC_INIT_WITH_RECT)
        except cv2.error:  # degenerate colour models (a flat window)
            return fallback, "ellipse"
        object_pixels = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
        if scale < 1:
            object_pixels = cv2.resize(object_pixels, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
        full = np.zeros((height, width), dtype=bool)
        full[y1:y2, x1:x2] = object_pixels[y1 - top : y2 - top, x1 - left : x2 - left].astype(bool)
        if full.sum() < self.min_fill * (x2 - x1) * (y2 - y1):
            return fallback, "ellipse"
        return full, "grabcut"
