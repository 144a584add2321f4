"""Meta's segment-anything SAM, prompted by boxes (or points) through ``SamPredictor``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


class SamSegmenter:
    """Box-prompted masks from a segment-anything model; one image embedding per call, shared by all boxes."""

    def __init__(self, model: Any, device: str) -> None:
        from segment_anything import SamPredictor

        self.device = device
        self._predictor = SamPredictor(model)
        self._lock = threading.Lock()  # the predictor keeps the current image's embedding as state

    @classmethod
    def build(cls, kind: str, checkpoint: Path | None, device: str) -> SamSegmenter:
        """Build ``sam_model_registry[kind]`` from ``checkpoint`` (None gives random weights) on ``device``."""
        from segment_anything import sam_model_registry

        model = sam_model_registry[kind](checkpoint=None if checkpoint is None else str(checkpoint))
        return cls(model.to(device).eval(), device)

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 4) xyxy box prompt."""
        return self._predict(image, boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4))

    def segment_points(self, image: Image.Image, points: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 2) xy foreground point."""
        return self._predict(image, points=np.asarray(points, dtype=np.float32).reshape(-1, 2))

    def _predict(
        self, image: Image.Image, boxes: np.ndarray | None = None, points: np.ndarray | None = None
    ) -> np.ndarray:
        import torch

        pixels = np.asarray(image.convert("RGB"))
        count = len(boxes) if boxes is not None else len(points) if points is not None else 0
        if count == 0:
            return np.zeros((0, *pixels.shape[:2]), dtype=bool)
        with self._lock, torch.inference_mode():
            self._predictor.set_image(pixels)
            transform, size = self._predictor.transform, pixels.shape[:2]
            box_tensor = point_tensor = label_tensor = None
            if boxes is not None:
                box_tensor = transform.apply_boxes_torch(torch.as_tensor(boxes, device=self.device), size)
            if points is not None:
                coords = transform.apply_coords_torch(torch.as_tensor(points, device=self.device), size)
                point_tensor = coords[:, None, :]
                label_tensor = torch.ones((count, 1), dtype=torch.int64, device=self.device)
            # A lone point is ambiguous (part or whole?): ask for SAM's three masks and keep its best-rated one.
            masks, quality, _ = self._predictor.predict_torch(
                point_coords=point_tensor, point_labels=label_tensor, boxes=box_tensor, multimask_output=boxes is None
            )
            self._predictor.reset_image()
            best = quality.argmax(dim=1)
            chosen = masks[torch.arange(count, device=masks.device), best]
        return chosen.cpu().numpy().astype(bool)
