"""Ultralytics YOLO (any detection ``.pt`` or exported ``.onnx``): the preferred detector when its weights are present.

No YOLO weights ship in any package, so ``visorch models pull yolo`` fetches ``yolov8n.pt`` from
the ultralytics GitHub release on a connected machine. Any other detection checkpoint dropped
into ``<weights_root>/yolo/`` (``yolo11s.pt``, a fine-tuned model, an ONNX export) is used too.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import supervision as sv
from PIL import Image
from visorch.tools.detection.common import class_filter
from visorch.tools.detections import CLASS_NAME
from visorch.tools.errors import MissingWeightsError
from visorch.tools.models.backend import LoadRequest

FOLDER = "yolo"
DEFAULT_WEIGHTS = "yolov8n.pt"
SUFFIXES = (".pt", ".onnx")


class YoloDetector:
    """A :class:`tools.models.protocols.Detector` over an ultralytics ``YOLO`` model."""

    def __init__(self, model: Any, device: str = "cpu") -> None:
        self.model = model
        self.device = device
        names = model.names
        self.class_names: Sequence[str] | None = [str(names[i]) for i in sorted(names)]
        self._lock = threading.Lock()  # ultralytics predictors keep per-call state on the model

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """One ``sv.Detections`` per image (original pixels), for the queried classes or all of them."""
        assert self.class_names is not None
        allowed = class_filter(queries, self.class_names)
        if allowed is not None and len(allowed) == 0:
            return [sv.Detections.empty() for _ in images]
        with self._lock:
            results = self.model.predict(
                [image.convert("RGB") for image in images],
                conf=min_score,
                classes=None if allowed is None else allowed.tolist(),
                device=self.device,
                verbose=False,
            )
        found = []
        for result in results:
            detections = sv.Detections.from_ultralytics(result)
            if CLASS_NAME not in detections.data:
                detections.data[CLASS_NAME] = [self.class_names[i] for i in detections.class_id]  # type: ignore[union-attr]
            found.append(detections)
        return found


def find_yolo_weights(weights_root: Path) -> Path | None:
    """``<weights_root>/yolo/yolov8n.pt``, else the first other ``.pt``/``.onnx`` there; None when missing."""
    folder = Path(weights_root) / FOLDER
    preferred = folder / DEFAULT_WEIGHTS
    if preferred.is_file() and preferred.stat().st_size > 0:
        return preferred
    if folder.is_dir():
        for candidate in sorted(folder.iterdir()):
            if candidate.suffix in SUFFIXES and candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    return None


def load_yolo_file(path: Path, device: str = "cpu") -> YoloDetector:
    """Load a YOLO detection checkpoint (``.pt``) or ONNX export from ``path``."""
    from ultralytics import YOLO

    if not path.is_file():
        raise MissingWeightsError(f"no YOLO weights at {path}: run visorch models pull yolo, or put a .pt file there")
    model = YOLO(str(path), task="detect")
    return YoloDetector(model, device)


def load_yolo(request: LoadRequest) -> YoloDetector:
    """The backend loader: ``request.weights_dir`` is the weights file :func:`find_yolo_weights` chose."""
    path = request.weights_dir
    if path.is_dir():
        found = find_yolo_weights(path)
        if found is None:
            raise MissingWeightsError(f"no YOLO weights in {path}: run visorch models pull yolo")
        path = found
    return load_yolo_file(path, request.device)


def pull_yolo(weights_root: Path) -> None:
    """Download ``yolov8n.pt`` from the ultralytics GitHub release (needs internet) into ``<weights_root>/yolo/``."""
    from ultralytics.utils.downloads import attempt_download_asset

    target = Path(weights_root) / FOLDER / DEFAULT_WEIGHTS
    if target.is_file():
        return
    partial = target.parent / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    try:
        downloaded = Path(attempt_download_asset(str(partial / DEFAULT_WEIGHTS)))
        if not downloaded.is_file():
            raise MissingWeightsError(
                f"could not download {DEFAULT_WEIGHTS} from the ultralytics release; check the internet connection "
                f"or copy the file to {target} yourself"
            )
        downloaded.replace(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
