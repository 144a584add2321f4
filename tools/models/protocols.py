"""What a loaded model must offer, per capability. Backends return objects of these shapes.

Tool functions talk to models only through these protocols, so any backend of a capability
(ultralytics YOLO, the offline NanoDet ONNX, OWL-ViT, ...) can stand behind the same tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv
from PIL import Image
from visorch.tools.capability import Capability
from visorch.tools.text import TextLine, Word


@runtime_checkable
class Detector(Protocol):
    """Finds labelled boxes. ``class_names`` is None for open-vocabulary detectors."""

    class_names: Sequence[str] | None

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[str] | None, min_score: float
    ) -> list[sv.Detections]:
        """One ``sv.Detections`` per image, with ``data['class_name']`` and ``confidence`` set.

        Closed-vocabulary detectors receive ``queries`` already mapped to their class names (or
        None for all classes); open-vocabulary ones receive the user's phrases.
        """
        ...


@runtime_checkable
class Segmenter(Protocol):
    """Turns box prompts into masks."""

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 4) xyxy box prompt."""
        ...


@runtime_checkable
class PointSegmenter(Segmenter, Protocol):
    """A segmenter that also takes point prompts (the SAM family)."""

    def segment_points(self, image: Image.Image, points: np.ndarray) -> np.ndarray:
        """(N, H, W) boolean masks, one per (N, 2) xy foreground point."""
        ...


@runtime_checkable
class TextReader(Protocol):
    """Reads text lines with boxes (OCR)."""

    def read(self, image: Image.Image) -> list[TextLine]:
        """Lines in reading order (top to bottom, then left to right)."""
        ...


@runtime_checkable
class SpeechRecognizer(Protocol):
    """Transcribes 16 kHz mono float32 speech."""

    def transcribe(self, samples: np.ndarray, language: str | None) -> tuple[str, str | None, list[Word]]:
        """(text, detected language, words with start/end times)."""
        ...


@runtime_checkable
class Captioner(Protocol):
    """Describes images in a sentence."""

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image."""
        ...


@runtime_checkable
class QuestionAnswerer(Protocol):
    """Answers a question about an image (VQA)."""

    def answer(self, image: Image.Image, question: str) -> str:
        """A short answer."""
        ...


@runtime_checkable
class ImageTextScorer(Protocol):
    """Scores how well texts describe images (CLIP-style)."""

    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """(len(images), len(texts)) probabilities over the texts, per image."""
        ...

    def similarity(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """(len(images), len(texts)) raw model logits, comparable across images (to rank images for a text)."""
        ...


CAPABILITY_PROTOCOLS: dict[Capability, type] = {
    Capability.DETECTION: Detector,
    Capability.SEGMENTATION: Segmenter,
    Capability.OCR: TextReader,
    Capability.ASR: SpeechRecognizer,
    Capability.CAPTION: Captioner,
    Capability.VQA: QuestionAnswerer,
    Capability.IMAGE_TEXT: ImageTextScorer,
}
"""The protocol a model tool's handle is typed by, per capability (a tool may ask for a sub-protocol)."""
