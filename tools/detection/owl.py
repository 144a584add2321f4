"""OWLv2 / OWL-ViT open-vocabulary detection with transformers: finds any object named in words.

No OWL weights ship in any package; ``visorch models pull owlv2`` saves
``google/owlv2-base-patch16-ensemble`` from the Hugging Face hub into ``<weights_root>/owlv2/``
on a connected machine. Any OWL-ViT or OWLv2 checkpoint saved there with ``save_pretrained``
(model and processor) loads the same way.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import supervision as sv
from PIL import Image
from visorch.tools.detection.common import build_detections
from visorch.tools.models.backend import LoadRequest
from visorch.tools.vocabulary import COCO_CLASSES

FOLDER = "owlv2"
HUB_MODEL = "google/owlv2-base-patch16-ensemble"
PROMPT_TEMPLATE = "a photo of a {}"


class OwlDetector:
    """A :class:`tools.models.protocols.Detector` over an OWL-ViT / OWLv2 model (open vocabulary)."""

    class_names: Sequence[str] | None = None

    def __init__(self, model: Any, processor: Any, device: str = "cpu") -> None:
        self.model = model
        self.processor = processor
        self.device = device
        # OWLv2 pads every image to a square before resizing, so boxes come back in padded-square units.
        self.pads_to_square = getattr(model.config, "model_type", "") == "owlv2"
        self._lock = threading.Lock()

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """One ``sv.Detections`` per image; ``queries`` are free phrases (None: the 80 COCO classes)."""
        import torch

        phrases = list(queries) if queries else list(COCO_CLASSES)
        prompts = [PROMPT_TEMPLATE.format(phrase) for phrase in phrases]
        rgb = [image.convert("RGB") for image in images]
        with self._lock:
            inputs = self.processor(text=[prompts] * len(rgb), images=rgb, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                outputs = self.model(**inputs)
            sizes = [(max(i.size), max(i.size)) if self.pads_to_square else (i.height, i.width) for i in rgb]
            results = self.processor.post_process_grounded_object_detection(
                outputs, threshold=min_score, target_sizes=sizes
            )
        found = []
        for image, result in zip(rgb, results, strict=True):
            boxes = result["boxes"].detach().cpu().numpy().reshape(-1, 4)
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.width)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.height)
            found.append(
                build_detections(
                    boxes,
                    result["scores"].detach().cpu().numpy(),
                    result["labels"].detach().cpu().numpy().astype(int),
                    phrases,
                )
            )
        return found


def find_owl_weights(weights_root: Path) -> Path | None:
    """``<weights_root>/owlv2/`` when it holds a saved model and processor; None otherwise."""
    folder = Path(weights_root) / FOLDER
    has_weights = any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    has_processor = any((folder / name).is_file() for name in ("preprocessor_config.json", "processor_config.json"))
    return folder if (folder / "config.json").is_file() and has_weights and has_processor else None


def load_owl(request: LoadRequest) -> OwlDetector:
    """Load the model and processor saved under ``request.weights_dir`` (local files only)."""
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    processor = AutoProcessor.from_pretrained(str(request.weights_dir), local_files_only=True)
    model = AutoModelForZeroShotObjectDetection.from_pretrained(str(request.weights_dir), local_files_only=True)
    model = model.to(request.device).eval()
    return OwlDetector(model, processor, request.device)


def pull_owl(weights_root: Path, hub_model: str = HUB_MODEL) -> None:
    """Save ``hub_model`` (model and processor) from the hub into ``<weights_root>/owlv2/``; needs internet."""
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    target = Path(weights_root) / FOLDER
    partial = Path(weights_root) / f".{FOLDER}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        AutoProcessor.from_pretrained(hub_model).save_pretrained(partial)
        AutoModelForZeroShotObjectDetection.from_pretrained(hub_model).save_pretrained(partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.replace(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
