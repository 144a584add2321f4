"""The model capabilities: what a backend does and what a tool needs, named once."""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    """A kind of model work. Backends declare one; a model tool names the one it needs.

    A ``StrEnum``, so settings keyed by plain strings (``preferred = {"detection": "yolo"}``,
    device overrides) match it unchanged.
    """

    DETECTION = "detection"
    SEGMENTATION = "segmentation"
    OCR = "ocr"
    ASR = "asr"
    CAPTION = "caption"
    VQA = "vqa"
    IMAGE_TEXT = "image_text"
    IMAGE_CLASSIFICATION = "image_classification"
    EMBEDDING = "embedding"
