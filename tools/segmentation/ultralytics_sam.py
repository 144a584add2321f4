"""SAM-family models (MobileSAM, SAM 2.x) and FastSAM through the ultralytics package."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def ultralytics_device(device: str) -> str:
    """The device string ultralytics understands ('cuda' means the first GPU, '0')."""
    return "0" if device == "cuda" else device


class UltralyticsSamSegmenter:
    """Box- or point-prompted masks from an ultralytics SAM checkpoint (mobile_sam.pt, sam2.1_b.pt, ...).

    Each prompt is decoded on its own against one cached image embedding, so every prompt gets its
    own mask (empty where the model rejects it) and the order always matches the prompts.
    """

    def __init__(self, checkpoint: Path, device: str) -> None:
        from ultralytics.models.sam import Predictor, SAM2Predictor

        predictor_class = SAM2Predictor if "sam2" in checkpoint.stem else Predictor
        overrides = {
            "conf": 0.0,  # keep every mask: a box prompt asks for its object, rated or not
            "task": "segment",
            "mode": "predict",
            "imgsz": 1024,
            "model": str(checkpoint),
            "device": ultralytics_device(device),
            "verbose": False,
            "save": False,
        }
        self._predictor = predictor_class(overrides=overrides)
        self._lock = threading.Lock()  # the predictor keeps the current image's embedding as state

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 4) xyxy box prompt."""
        prompts = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        return self._predict(image, [{"bboxes": box.tolist()} for box in prompts])

    def segment_points(self, image: Image.Image, points: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 2) xy foreground point."""
        prompts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        return self._predict(image, [{"points": [point.tolist()], "labels": [1]} for point in prompts])

    def _predict(self, image: Image.Image, prompts: list[dict[str, Any]]) -> np.ndarray:
        rgb = np.asarray(image.convert("RGB"))
        masks = np.zeros((len(prompts), *rgb.shape[:2]), dtype=bool)
        if not prompts:
            return masks
        with self._lock:
            self._predictor.set_image(np.ascontiguousarray(rgb[:, :, ::-1]))  # ultralytics reads BGR arrays
            try:
                for index, prompt in enumerate(prompts):
                    result = self._predictor(**prompt)[0]
                    if result.masks is not None and len(result.masks.data):
                        masks[index] = result.masks.data[0].cpu().numpy().astype(bool)
            finally:
                self._predictor.reset_image()
        return masks


class FastSamSegmenter:
    """FastSAM (a YOLO segmentation model that outlines everything), matched to box prompts afterwards.

    Each box gets the mask with the highest box IoU (mask area inside the box over the union of box
    and mask), FastSAM's own box-prompt rule, applied per box so the masks keep the prompts' order.
    """

    def __init__(self, checkpoint: Path, device: str, confidence: float = 0.4, iou: float = 0.9) -> None:
        from ultralytics import FastSAM

        self._model = FastSAM(str(checkpoint))
        self.device = ultralytics_device(device)
        self.confidence = confidence
        self.iou = iou
        self._lock = threading.Lock()

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 4) xyxy box prompt; empty where FastSAM found no mask."""
        rgb = np.asarray(image.convert("RGB"))
        height, width = rgb.shape[:2]
        prompts = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        masks = np.zeros((len(prompts), height, width), dtype=bool)
        if len(prompts) == 0:
            return masks
        with self._lock:
            result = self._model.predict(
                np.ascontiguousarray(rgb[:, :, ::-1]),
                device=self.device,
                retina_masks=True,
                conf=self.confidence,
                iou=self.iou,
                verbose=False,
            )[0]
        if result.masks is None or len(result.masks.data) == 0:
            return masks
        candidates = result.masks.data.cpu().numpy().astype(bool)
        candidate_areas = candidates.reshape(len(candidates), -1).sum(axis=1)
        for index, box in enumerate(prompts):
            x1, y1 = int(np.clip(round(box[0]), 0, width)), int(np.clip(round(box[1]), 0, height))
            x2, y2 = int(np.clip(round(box[2]), x1, width)), int(np.clip(round(box[3]), y1, height))
            inside = candidates[:, y1:y2, x1:x2].reshape(len(candidates), -1).sum(axis=1)
            union = (x2 - x1) * (y2 - y1) + candidate_areas - inside
            best = int(np.argmax(inside / np.maximum(union, 1)))
            if inside[best] > 0:
                masks[index] = candidates[best]
        return masks
